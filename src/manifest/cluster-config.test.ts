import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_TEXT, expectSafeText, MB_TEXT } from '../../test/support/hostile-text.js';
import { loadClusterConfig } from './cluster-config.js';

// A kk cluster config may come from anyone: its values are quoted, cut and escaped in the issues, which still
// name the field.
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-cluster-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

type Field = 'arch' | 'plugin' | 'registry' | 'override' | 'dest';

// A kk create config file with one field's value swapped for `v` (a YAML double-quoted scalar, JSON escapes).
function cluster(field: Field, v: string): string {
  const q = (f: Field, d: string): string => (f === field ? JSON.stringify(f === 'registry' ? `r.local/${v}` : v) : d);
  return `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: c}
spec:
  hosts: [{name: n1, arch: ${q('arch', 'amd64')}}]
  kubernetes: {version: v1.28.12}
  network: {plugin: ${q('plugin', 'calico')}}
  registry:
    privateRegistry: ${q('registry', 'r.local')}
    namespaceOverride: ${q('override', 'kubesphereio')}
    namespaceRewrite: {policy: changePrefix, src: [calico], dest: ${q('dest', 'mirror')}}
`;
}

const cases: Array<[Field, string, RegExp]> = [
  ['arch', 'spec.hosts[0].arch', /^"V.* is not one of amd64, arm64$/],
  ['plugin', 'spec.network.plugin', /^network\.plugin "V.* is not one kk v3 deploys$/],
  ['override', 'spec.registry.namespaceOverride', /^"V.* is not a registry namespace/],
  ['dest', 'spec.registry.namespaceRewrite.dest', /^dest "V.* is not a registry namespace/],
  [
    'registry',
    'spec.registry.privateRegistry',
    /^registry\.privateRegistry "r\.local\/V.*: not a registry host and path$/,
  ],
];

describe('loadClusterConfig: hostile values', () => {
  it.each(
    cases.flatMap(([field, path, want]) => [
      [`1 MB ${field}`, field, path, `V${MB_TEXT}`, want] as const,
      [`${field} with control characters`, field, path, `V${CONTROL_TEXT}`, want] as const,
    ]),
  )('%s', async (_what, field, path, value, want) => {
    const file = join(dir, `c-${field}-${value.length}.yaml`);
    await writeFile(file, cluster(field, value));
    const r = await loadClusterConfig(file);
    expect(r.issues.find((i) => i.path === path)?.message).toMatch(want);
    for (const i of r.issues) expectSafeText(`${i.message} ${i.hint ?? ''}`);
  });
});
