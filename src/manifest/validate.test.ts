import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { validateManifests } from './check.js';

// The manifest is the user's own file, but a value pasted wrong (a megabyte, or bytes with ESC / BEL / CR / LF in
// them) must not come back whole or raw in an issue: each message names the field, quotes the value cut and escaped.

const MB = 'x'.repeat(1024 * 1024);
const CTRL = 'v\u001b]0;pwned\u0007\r\nok: fine';

type Field = 'arch' | 'distType' | 'k8s' | 'checksum' | 'runtime' | 'etcd' | 'image' | 'key';

// The kk v3.1.5 binaries fixture with one value swapped (a YAML double-quoted scalar, JSON escapes; a key as an
// explicit `? key` entry, since YAML caps implicit keys at 1024 characters).
function manifest(over: Partial<Record<Field, string>>): string {
  const q = (v: string | undefined, d: string): string => (v === undefined ? d : JSON.stringify(v));
  return `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [${q(over.arch, 'amd64')}]
  ${over.key === undefined ? '' : `? ${JSON.stringify(over.key)}\n  : 1\n  `}operatingSystems:
  - {arch: amd64, type: linux, id: ubuntu, version: "22.04", repository: {iso: {url: "http://127.0.0.1/u.iso", checksum: ${q(over.checksum, '"0000000000000000000000000000000000000000000000000000000000000000"')}}}}
  kubernetesDistributions: [{type: ${q(over.distType, 'kubernetes')}, version: ${q(over.k8s, 'v1.28.12')}}]
  components:
    helm: {version: v3.14.3}
    cni: {version: v1.2.0}
    etcd: {version: ${q(over.etcd, 'v3.5.13')}}
    containerRuntimes: [{type: docker, version: 24.0.9}, {type: ${q(over.runtime, 'containerd')}, version: 1.7.13}]
    crictl: {version: v1.29.0}
    calicoctl: {version: v3.27.3}
  images: [${q(over.image, 'docker.io/kubesphere/pause:3.9')}]
`;
}

let catalog: Catalog;
let dir: string;
beforeAll(async () => {
  catalog = await loadCatalog();
  dir = await mkdtemp(join(tmpdir(), 'kko-validate-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const cases: Array<[string, Field, string, string, RegExp]> = [
  ['arch', 'arch', 'ARCH', 'spec.arches[0]', /^arch "/],
  [
    'distribution type',
    'distType',
    'DISTRIBUTION_TYPE',
    'spec.kubernetesDistributions[0].type',
    /^unknown distribution type "/,
  ],
  ['Kubernetes version', 'k8s', 'UNKNOWN_VERSION', 'spec.kubernetesDistributions[0].version', /^Kubernetes v/],
  [
    'ISO checksum',
    'checksum',
    'ISO_CHECKSUM',
    'spec.operatingSystems[0].repository.iso.checksum',
    /^repository\.iso\.checksum "/,
  ],
  ['container runtime', 'runtime', 'RUNTIME', 'spec.components.containerRuntimes[1].type', /^container runtime "/],
  ['etcd version', 'etcd', 'COMPONENT_VERSION', 'spec.components.etcd.version', /^etcd v/],
  ['image', 'image', 'EXTRA_IMAGE', 'spec.images[0]', /^v/],
  ['unknown field', 'key', 'UNKNOWN_FIELD', 'spec.v', /^unknown field "v/],
];

describe('manifest validate: hostile values are named, cut and escaped', () => {
  it.each(
    cases.flatMap(([what, field, code, path, start]) => [
      [`1 MB ${what}`, field, `v${MB}`, code, path, start] as const,
      [`${what} with ESC/BEL/CR/LF`, field, CTRL, code, path, start] as const,
    ]),
  )('%s', async (_what, field, value, code, path, start) => {
    const file = join(dir, `${field}-${value.length}.yaml`);
    await writeFile(file, manifest({ [field]: value }));
    const r = await validateManifests({ catalog, files: [file], kkVersion: async () => 'v3.1.5' });
    const hit = r.issues.find((i) => i.code === code);
    expect(hit, JSON.stringify(r.issues.map((i) => [i.code, i.path]))).toBeDefined();
    expect(hit?.path?.startsWith(path)).toBe(true);
    expect(hit?.message).toMatch(start);
    for (const i of r.issues) {
      const text = `${i.path ?? ''} ${i.message} ${i.hint ?? ''}`;
      expect(text.length).toBeLessThan(2000);
      // eslint-disable-next-line no-control-regex -- the point: no raw control character in an issue
      expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    }
    if (value.length > 1000) expect(hit?.message).toContain(`(${value.length} characters)`);
    else expect(hit?.message).toContain('v\\u001b]0;pwned\\u0007');
  });
});

describe('manifest schema: a list where a string belongs', () => {
  it('is named by its kind, not expanded', async () => {
    const file = join(dir, 'list.yaml');
    await writeFile(
      file,
      manifest({}).replace('etcd: {version: v3.5.13}', `etcd: {version: [${JSON.stringify(MB + CTRL)}]}`),
    );
    const r = await validateManifests({ catalog, files: [file], kkVersion: async () => 'v3.1.5' });
    const hit = r.issues.find((i) => i.path === 'spec.components.etcd.version');
    expect(hit?.message).toBe('expected a string, got a list');
    expect(JSON.stringify(r.issues).length).toBeLessThan(10_000);
  });
});
