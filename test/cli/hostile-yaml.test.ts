import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, tempDir } from './run-cli.js';

// "Billion laughs": nine levels of nine aliases each expand to 9^9 (~387M) strings if a parser follows them.
function aliasBomb(prefix = ''): string {
  const lines = [`${prefix}a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`];
  let prev = 'a';
  for (const n of 'bcdefghi') {
    lines.push(`${prefix}${n}: &${n} [${Array(9).fill(`*${prev}`).join(',')}]`);
    prev = n;
  }
  return `${lines.join('\n')}\n`;
}

const MANIFEST_HEAD = 'apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata:\n  name: x\n';
const GOOD = join(FIXTURES, 'manifests/kk-v3.1.5-binaries.yaml');

let dir: string;
let cleanup: () => Promise<void>;
let bomb: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  bomb = join(dir, 'bomb.yaml');
  await writeFile(bomb, aliasBomb());
  await mkdir(join(dir, 'addons'));
  await writeFile(join(dir, 'addons', 'evil.yaml'), aliasBomb());
});
afterAll(async () => cleanup());

// Every command that reads YAML, with the bomb in the place that command reads it from.
const paths: [string, () => string[]][] = [
  ['manifest validate -f', () => ['manifest', 'validate', '-f', bomb]],
  [
    'manifest validate --cluster',
    () => ['manifest', 'validate', '-f', GOOD, '--kk-version', 'v3.1.5', '--cluster', bomb],
  ],
  ['manifest images -f', () => ['manifest', 'images', '-f', bomb]],
  ['manifest merge', () => ['manifest', 'merge', GOOD, bomb]],
  ['manifest diff', () => ['manifest', 'diff', GOOD, bomb]],
  [
    'manifest create --catalog-dir',
    () => [
      'manifest',
      'create',
      '--with-kubernetes',
      'v1.28.12',
      '--kk-version',
      'v3.1.5',
      '--catalog-dir',
      join(dir, 'addons'),
    ],
  ],
  ['mirror list --mirror-config', () => ['mirror', 'list', '--mirror-config', bomb]],
  ['artifact export -m', () => ['artifact', 'export', '-m', bomb, '--dry-run', '-o', join(dir, 'out.tar.gz')]],
  [
    'artifact export --mirror-config',
    () => ['artifact', 'export', '-m', GOOD, '--mirror-config', bomb, '--dry-run', '-o', join(dir, 'out.tar.gz')],
  ],
  ['precheck -m', () => ['precheck', '-m', bomb]],
];

describe('hostile YAML: alias bombs and oversized documents are invalid input (exit 2), never a crash', () => {
  it.each(paths)('%s: an alias bomb exits 2 naming the file, line and a hint, fast and small', async (_name, argv) => {
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    const r = await runCli(argv(), { cwd: dir });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('internal error');
    expect(r.stderr).toMatch(/bomb\.yaml:2:\d+: error: aliases expand|evil\.yaml:2:\d+: error: aliases expand/);
    expect(r.stderr).toContain('hint: write the values out');
  });

  it('the bomb inside a manifest document is placed at its first alias', async () => {
    const f = join(dir, 'manifest-bomb.yaml');
    await writeFile(f, MANIFEST_HEAD + aliasBomb('x'));
    const r = await runCli(['manifest', 'validate', '-f', f, '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    const issues = (JSON.parse(r.stdout) as { issues: { code: string; line: number; col: number }[] }).issues;
    expect(issues).toEqual([expect.objectContaining({ code: 'YAML_ALIASES', line: 6, col: 9 })]);
  });

  it('a few aliases (ordinary YAML reuse) still work', async () => {
    const f = join(dir, 'reuse.yaml');
    await writeFile(
      f,
      `${MANIFEST_HEAD}spec:\n  arches: &arches [amd64]\n  images: &imgs\n  - docker.io/kubesphere/pause:3.9\n`,
    );
    const r = await runCli(['manifest', 'images', '-f', f], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('docker.io/kubesphere/pause:3.9');
  });

  it('a document of a million tiny nodes is refused before the parser builds a tree (bounded memory)', async () => {
    const f = join(dir, 'flat.yaml');
    await writeFile(f, `[${Array(1_000_000).fill('1').join(',')}]\n`); // 2 MB; parsing it would take ~1 GB
    const before = process.memoryUsage().rss;
    const r = await runCli(['manifest', 'validate', '-f', f], { cwd: dir });
    expect(process.memoryUsage().rss - before).toBeLessThan(96 * 1024 * 1024);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('flat.yaml:1:1: error: more than 200000 YAML tokens');
  });

  it('a file over the 4 MiB document cap is refused unread', async () => {
    const f = join(dir, 'big.yaml');
    await writeFile(f, `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
    const r = await runCli(['manifest', 'validate', '-f', f], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/big\.yaml: \d+ bytes is larger than the 4194304-byte limit/);
  });
});
