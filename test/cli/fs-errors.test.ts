import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, tempDir } from './run-cli.js';

// Paths that cannot name a file are invalid input (exit 2) naming the path; a refusal is exit 1. Never 70.
let dir: string;
let cleanup: () => Promise<void>;
let file: string;
let loop: string;
const GOOD = join(FIXTURES, 'manifests/kk-v3.1.5-binaries.yaml');
const CREATE = ['manifest', 'create', '--with-kubernetes', 'v1.28.12', '--kk-version', 'v3.1.5'];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  file = join(dir, 'regular');
  await writeFile(file, 'x');
  loop = join(dir, 'loop1');
  await symlink(join(dir, 'loop2'), loop);
  await symlink(loop, join(dir, 'loop2'));
});
afterAll(async () => cleanup());

const cases: [string, () => string[], RegExp][] = [
  [
    'create -o under a regular file (ENOTDIR)',
    () => [...CREATE, '-o', join(file, 'm.yaml')],
    /writing \S+regular\/m\.yaml: a parent of this path is a file.*\(ENOTDIR\)/,
  ],
  [
    'create -o a symlink loop (ELOOP)',
    () => [...CREATE, '-o', loop],
    /writing \S+loop1: too many levels of symbolic links.*\(ELOOP\)/,
  ],
  [
    'create -o inside a symlink loop (ELOOP)',
    () => [...CREATE, '-o', join(loop, 'm.yaml')],
    /writing \S+loop1\/m\.yaml: .*\(ELOOP\)/,
  ],
  [
    'create --split under a regular file',
    () => [...CREATE, '--split', join(file, 'd')],
    /writing \S+regular\/d\/base-k8s\.yaml: .*\(ENOTDIR\)/,
  ],
  [
    'merge -o under a regular file',
    () => ['manifest', 'merge', GOOD, '-o', join(file, 'm.yaml')],
    /writing \S+regular\/m\.yaml: .*\(ENOTDIR\)/,
  ],
  [
    'export -o under a regular file',
    () => ['artifact', 'export', '-m', GOOD, '--kk-version', 'v3.1.5', '-o', join(file, 'a.tar.gz')],
    /writing \S+regular\/a\.tar\.gz: .*\(ENOTDIR\)/,
  ],
  ['validate -f a symlink loop', () => ['manifest', 'validate', '-f', loop], /reading manifest \S+loop1: .*\(ELOOP\)/],
  [
    'validate -f under a regular file',
    () => ['manifest', 'validate', '-f', join(file, 'm.yaml')],
    /reading manifest \S+regular\/m\.yaml: .*\(ENOTDIR\)/,
  ],
  [
    'validate -f a name too long',
    () => ['manifest', 'validate', '-f', join(dir, 'a'.repeat(300))],
    /reading manifest \S+aaaa: file name too long \(ENAMETOOLONG\)/,
  ],
  [
    'validate --cluster a symlink loop',
    () => ['manifest', 'validate', '-f', GOOD, '--kk-version', 'v3.1.5', '--cluster', loop],
    /reading cluster config \S+loop1: .*\(ELOOP\)/,
  ],
  [
    'mirror list --mirror-config under a file',
    () => ['mirror', 'list', '--mirror-config', join(file, 'p.yaml')],
    /reading mirror config \S+regular\/p\.yaml: .*\(ENOTDIR\)/,
  ],
  [
    '--catalog-dir a symlink loop',
    () => [...CREATE, '--catalog-dir', loop],
    /reading catalog dir \S+loop1: .*\(ELOOP\)/,
  ],
];

describe('file-system errors on input and output paths', () => {
  it.each(cases)('%s: exit 2 with the path and a hint', async (_name, argv, message) => {
    const r = await runCli(argv(), { cwd: dir });
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\n\s*hint: /); // validate prints issue hints indented under their issue
  });

  // Root ignores file modes, but sysfs refuses new files even to root (EACCES), which is what we need.
  it('permission denied on the output (EACCES): exit 1 with the path', async (t) => {
    const target = '/sys/kko-test-manifest.yaml';
    const probe = await writeFile(target, 'x').then(
      () => 'writable',
      (e: NodeJS.ErrnoException) => e.code,
    );
    if (probe !== 'EACCES') t.skip(`cannot get EACCES here (writing ${target} gave ${probe})`);
    const r = await runCli([...CREATE, '-o', target], { cwd: dir });
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`writing ${target}: permission denied (EACCES)`);
  });
});
