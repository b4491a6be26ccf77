import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

// Image references follow the distribution grammar and ISO checksums are sha256: a violation is an error at
// its line:col in `manifest validate`, and commands that read manifests refuse it (exit 2) before any work.
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => cleanup());

type JsonIssue = { code: string; line?: number; col?: number; path?: string; message: string; hint?: string };
const manifest = (images: string[], extra = '') => `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [amd64]
${extra}  images:
${images.map((i) => `  - ${JSON.stringify(i)}`).join('\n')}
`;

const BAD: [string, string][] = [
  ['docker.io/Kubesphere/pause:3.9', 'must be lowercase'],
  ['docker.io/kubesphere/pause:3.9 ', 'whitespace at position 31'],
  ['docker.io/kubesphere/pause:3.9\r', 'a control character'],
  ['docker.io/kubesphere/pa\u001b[2Juse:3.9', 'a control character'],
  ['reg.example:99999/kubesphere/pause:3.9', 'port 99999 is not from 1 to 65535'],
  ['reg.example:0/kubesphere/pause:3.9', 'port 0'],
  ['docker.io/kubesphere/pause:-3.9', 'bad tag'],
  ['docker.io/kubesphere/pause:' + '9'.repeat(129), 'bad tag'],
  [`docker.io/kubesphere/${'p'.repeat(250)}:1`, 'more than 255'],
  ['docker.io/kube..sphere/pause:3.9', 'bad path component'],
];

describe('image references in manifests', () => {
  it('manifest validate: each bad reference is an INVALID_REFERENCE error at its own line, with a hint', async () => {
    await writeFile(join(dir, 'bad.yaml'), manifest(['docker.io/kubesphere/pause:3.9', ...BAD.map(([ref]) => ref)]));
    const r = await runCli(['manifest', 'validate', '-f', 'bad.yaml', '--kk-version', 'v3.1.5', '--json'], {
      cwd: dir,
    });
    expect(r.code).toBe(2);
    const issues = (JSON.parse(r.stdout) as { issues: JsonIssue[] }).issues.filter(
      (i) => i.code === 'INVALID_REFERENCE',
    );
    expect(issues.map((i) => [i.path, i.line, i.col])).toEqual(BAD.map((_, n) => [`spec.images[${n + 1}]`, 8 + n, 5]));
    BAD.forEach(([, why], n) => expect(issues[n]?.message).toContain(why));
    expect(issues.every((i) => i.hint)).toBe(true);
  });

  it('manifest validate (text): the line is printed with control characters escaped', async () => {
    await writeFile(join(dir, 'esc.yaml'), manifest(['docker.io/kubesphere/pa\u001b]0;x\u0007use:3.9']));
    const r = await runCli(['manifest', 'validate', '-f', 'esc.yaml', '--kk-version', 'v3.1.5'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /esc\.yaml:7:5: error: spec\.images\[0\]: invalid image reference "docker\.io\/kubesphere\/pa\\u001b\]0;x\\u0007use:3\.9": a control character/,
    );
    expect(r.stderr).not.toContain('\u001b');
  });

  it.each([
    [
      'artifact export',
      ['artifact', 'export', '-m', 'one.yaml', '--dry-run', '-o', 'out.tar.gz', '--kk-version', 'v3.1.5'],
    ],
    ['manifest images', ['manifest', 'images', '-f', 'one.yaml']],
  ])('%s refuses a bad reference (exit 2) at its line', async (_name, argv) => {
    await writeFile(join(dir, 'one.yaml'), manifest(['reg.example:70000/kubesphere/pause:3.9']));
    const r = await runCli(argv, { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/one\.yaml:7:5: error: spec\.images\[0\]: invalid image reference .*port 70000/);
  });
});

describe('ISO checksums in manifests', () => {
  const os = (checksum: string) => `  operatingSystems:
  - arch: amd64
    id: ubuntu
    version: "22.04"
    repository:
      iso:
        localPath: ./u.iso
        checksum: ${JSON.stringify(checksum)}
`;

  it.each([
    ['a'.repeat(63)],
    ['a'.repeat(65)],
    ['g'.repeat(64)],
    ['md5:' + 'a'.repeat(32)],
    ['sha512:' + 'a'.repeat(64)],
  ])('%j is an ISO_CHECKSUM error at its line', async (sum) => {
    await writeFile(join(dir, 'iso.yaml'), manifest([], os(sum)));
    const r = await runCli(['manifest', 'validate', '-f', 'iso.yaml', '--kk-version', 'v3.1.5', '--json'], {
      cwd: dir,
    });
    expect(r.code).toBe(2);
    const issues = (JSON.parse(r.stdout) as { issues: JsonIssue[] }).issues.filter((i) => i.code === 'ISO_CHECKSUM');
    expect(issues.map((i) => [i.path, i.line, i.col])).toEqual([
      ['spec.operatingSystems[0].repository.iso.checksum', 13, 19],
    ]);
  });

  it.each([['A'.repeat(64)], ['sha256:' + 'b'.repeat(64)], [`${'c'.repeat(64)}  ubuntu-22.04-debs-amd64.iso`]])(
    '%j is accepted (as the export accepts it)',
    async (sum) => {
      await writeFile(join(dir, 'iso-ok.yaml'), manifest([], os(sum)));
      const r = await runCli(['manifest', 'validate', '-f', 'iso-ok.yaml', '--kk-version', 'v3.1.5', '--json'], {
        cwd: dir,
      });
      expect((JSON.parse(r.stdout) as { issues: JsonIssue[] }).issues.filter((i) => i.code === 'ISO_CHECKSUM')).toEqual(
        [],
      );
    },
  );
});

describe('secrets in manifests', () => {
  it('a password of the wrong type is an error that does not print the password', async () => {
    await writeFile(
      join(dir, 'pw.yaml'),
      `${manifest([])}  registry:\n    auths:\n      "r.example": {username: bob, password: 83619275}\n`,
    );
    const r = await runCli(['manifest', 'validate', '-f', 'pw.yaml', '--kk-version', 'v3.1.5'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('spec.registry.auths.r.example.password: expected a string, got number');
    expect(r.stdout + r.stderr).not.toContain('83619275');
  });
});
