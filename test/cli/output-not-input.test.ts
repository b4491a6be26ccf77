import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

// `-o` naming one of the command's own inputs is refused with exit 2, --force or not, and the input is untouched.
let work: { dir: string; cleanup: () => Promise<void> };
const MANIFEST = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: o}
spec:
  arches: [amd64]
  images:
  - docker.io/kubesphere/pause:3.9
`;
// Nothing may leave loopback even if the check regressed: docker.io → a closed local port, no upstream.
const MIRRORS =
  'apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- {prefix: docker.io, mirrors: [{location: "127.0.0.1:9", plainHTTP: true}], upstream: false}\n';

beforeAll(async () => {
  work = await tempDir('kko-out-in-');
  await mkdir(join(work.dir, 'sub'));
  await writeFile(join(work.dir, 'm.yaml'), MANIFEST);
  await writeFile(join(work.dir, 'b.yaml'), MANIFEST.replace('name: o', 'name: b'));
  await writeFile(join(work.dir, 'mirrors.yaml'), MIRRORS);
  await symlink(join(work.dir, 'm.yaml'), join(work.dir, 'sub', 'link.yaml'));
});

afterAll(async () => work?.cleanup());

const cli = (args: string[]) => runCli(args, { cwd: work.dir, env: { HOME: work.dir } });

describe('the output is never an input', () => {
  it.each([
    ['-o the manifest', ['-o', 'm.yaml'], 'm.yaml'],
    ['-o a symlink to the manifest', ['-o', 'sub/link.yaml'], 'm.yaml'],
    ['-o the manifest spelled another way', ['-o', './sub/../m.yaml'], 'm.yaml'],
    ['-o the mirror config', ['-o', 'mirrors.yaml'], 'mirrors.yaml'],
  ])('artifact export %s --force: exit 2, input unchanged', async (_name, out, input) => {
    const before = await readFile(join(work.dir, input), 'utf8');
    const r = await cli([
      'artifact',
      'export',
      '-m',
      'm.yaml',
      '--mirror-config',
      'mirrors.yaml',
      '--cache',
      'cache',
      '--force',
      ...out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to overwrite an input/);
    expect(r.stderr).toContain(input);
    expect(await readFile(join(work.dir, input), 'utf8')).toBe(before);
  });

  it('manifest merge -o one of its inputs --force: exit 2, input unchanged; another output works', async () => {
    const r = await cli(['manifest', 'merge', 'm.yaml', 'b.yaml', '-o', 'b.yaml', '--force']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to overwrite an input/);
    expect(await readFile(join(work.dir, 'b.yaml'), 'utf8')).toBe(MANIFEST.replace('name: o', 'name: b'));
    expect((await cli(['manifest', 'merge', 'm.yaml', 'b.yaml', '-o', 'merged.yaml'])).code).toBe(0);
  });
});
