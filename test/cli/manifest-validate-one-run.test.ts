import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

type JsonIssue = { severity: string; code: string; path?: string; line?: number; message: string };
const validate = async (text: string, extra: string[] = []) => {
  await writeFile(join(dir, 'm.yaml'), text);
  const r = await runCli(['manifest', 'validate', '-f', 'm.yaml', '--kk-version', 'v3.1.5', '--json', ...extra], {
    cwd: dir,
  });
  return { ...r, json: JSON.parse(r.stdout) as { valid: boolean; choices: string | null; issues: JsonIssue[] } };
};

const HEAD = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata:
  name: sample
spec:
  arches: [amd64]
`;

describe('manifest validate reports every step in one run (#9)', () => {
  it('a schema error, a kk rule error and the version/completeness errors come out together', async () => {
    const text = `${HEAD}  kubernetesDistributions:
  - {type: kubernetes, version: v1.28.99}
  components:
    etcd: {version: 3}
  images:
  - redis:5
`;
    const r = await validate(text);
    expect(r.code).toBe(2);
    const codes = new Set(r.json.issues.filter((i) => i.severity === 'error').map((i) => i.code));
    expect([...codes].sort()).toEqual([
      'COMPONENT_VERSION',
      'IMAGE_NAME',
      'MISSING_BINARY',
      'MISSING_IMAGE',
      'SCHEMA',
      'UNKNOWN_VERSION',
    ]);
    expect(r.json.issues.find((i) => i.code === 'SCHEMA')?.path).toBe('spec.components.etcd.version');
  });

  it('after an element the schema rejects, later elements keep their own index and line', async () => {
    const text = `${HEAD}  images:
  - {not: an image}
  - redis:5
  - docker.io/library/redis:7
  - docker.io/library/redis:7
`;
    const r = await validate(text);
    const by = (code: string) => r.json.issues.filter((i) => i.code === code).map((i) => [i.path, i.line]);
    expect(by('SCHEMA')).toEqual([['spec.images[0]', 8]]);
    expect(by('IMAGE_NAME')).toEqual([['spec.images[1]', 9]]);
    expect(by('DUPLICATE_IMAGE')).toEqual([['spec.images[3]', 11]]);
  });

  it('a missing required field inside a list drops only that entry', async () => {
    const r = await validate(`${HEAD}  kubernetesDistributions:\n  - {type: kubernetes}\n  images:\n  - redis:5\n`);
    expect(
      r.json.issues
        .filter((i) => i.severity === 'error')
        .map((i) => i.code)
        .sort(),
    ).toEqual(['IMAGE_NAME', 'SCHEMA']);
  });

  it('an images-only manifest is valid as export treats it: no completeness errors, no "not needed" notes', async () => {
    const r = await validate(`${HEAD}  images:\n  - docker.io/library/redis:7\n`);
    expect(r.code).toBe(0);
    expect(r.json.choices).toBe('images-only');
    expect(r.json.issues.map((i) => i.code)).toEqual(['IMAGES_ONLY']);
  });

  it('an images-only manifest still gets its kk rules and component versions checked', async () => {
    const r = await validate(`${HEAD}  components:\n    etcd: {version: v3.4.0}\n  images:\n  - redis:5\n`);
    expect(r.code).toBe(2);
    expect(
      r.json.issues
        .filter((i) => i.severity === 'error')
        .map((i) => i.code)
        .sort(),
    ).toEqual(['COMPONENT_VERSION', 'IMAGE_NAME']);
  });

  it('a missing file is reported with the others instead of stopping the run', async () => {
    await writeFile(join(dir, 'm.yaml'), `${HEAD}  images:\n  - redis:5\n`);
    const r = await runCli(['manifest', 'validate', '-f', 'm.yaml', '-f', 'nope.yaml', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    const codes = (JSON.parse(r.stdout) as { issues: JsonIssue[] }).issues.map((i) => i.code).sort();
    expect(codes).toEqual(['FILE_NOT_FOUND', 'IMAGE_NAME']);
  });
});
