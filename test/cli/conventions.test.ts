import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

const exec = promisify(execFile);
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());
const cli = (args: string[]) => runCli(args, { cwd: dir });
const create = (k8s: string, out: string) =>
  cli(['manifest', 'create', '--kk-version', 'v3.1.5', '--with-kubernetes', k8s, '-o', out]);

describe('CLI conventions (#9)', () => {
  it('kko version lists the kk releases and the Kubernetes versions each supports; --json too', async () => {
    const r = await cli(['version', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      version: string;
      kk: Array<{ version: string; defaultKubernetes: string; kubernetes: string[] }>;
    };
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(j.version).toBe(pkg.version);
    const v315 = j.kk.find((k) => k.version === 'v3.1.5');
    expect(v315?.kubernetes).toContain('v1.28.12');
    expect(v315?.kubernetes).toContain(v315?.defaultKubernetes);
    const text = await cli(['version']);
    expect(text.stdout).toMatch(/^kk v3\.1\.5 \(default Kubernetes v1\.\d+\.\d+\)$/m);
    expect(text.stdout).toMatch(/^ {2}v1\.28 +0 1 2 .* 12$/m);
    expect(Math.max(...text.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('kko completion bash completes subcommands and flags (run in real bash)', async () => {
    const script = (await cli(['completion', 'bash'])).stdout;
    const complete = async (words: string[]) => {
      const prog = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kko; echo "\${COMPREPLY[@]}"`;
      return (await exec('bash', ['-c', prog])).stdout.trim().split(' ');
    };
    expect(await complete(['kko', 'man'])).toEqual(['manifest']);
    expect(await complete(['kko', 'manifest', 'v'])).toEqual(['validate']);
    expect(await complete(['kko', 'artifact', 'export', '--comp'])).toEqual(['--compress']);
  });

  it.each(['zsh', 'fish'])('kko completion %s prints a script naming the commands', async (shell) => {
    const r = await cli(['completion', shell]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('validate');
    expect(r.stdout).toContain('compress');
  });

  it('kko completion with an unknown shell is invalid input', async () => {
    expect((await cli(['completion', 'tcsh'])).code).toBe(2);
  });

  it('manifest diff --exit-code: 1 with differences, 0 without', async () => {
    expect((await create('v1.28.12', 'a.yaml')).code).toBe(0);
    expect((await create('v1.28.11', 'b.yaml')).code).toBe(0);
    const differ = await cli(['manifest', 'diff', 'a.yaml', 'b.yaml', '--exit-code']);
    expect(differ.code).toBe(1);
    expect(differ.stdout).toContain('v1.28.12 -> v1.28.11');
    expect((await cli(['manifest', 'diff', 'a.yaml', 'a.yaml', '--exit-code'])).code).toBe(0);
    expect((await cli(['manifest', 'diff', 'a.yaml', 'b.yaml'])).code).toBe(0);
  });

  it('manifest merge --json prints a summary of the written file; without -o it is an error', async () => {
    expect((await create('v1.28.12', 'a.yaml')).code).toBe(0);
    const r = await cli(['manifest', 'merge', 'a.yaml', '-o', 'all.yaml', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { file: string; inputs: string[]; images: string[] };
    expect(j.file).toBe(join(dir, 'all.yaml'));
    expect(j.inputs).toEqual([join(dir, 'a.yaml')]);
    expect(j.images).toContain('docker.io/kubesphere/kube-apiserver:v1.28.12');
    const bad = await cli(['manifest', 'merge', 'a.yaml', '--json']);
    expect([bad.code, bad.stdout]).toEqual([2, '']);
    expect(bad.stderr).toContain('needs -o FILE');
  });

  it('manifest create --json without -o or --split is an error, not YAML mixed with JSON', async () => {
    const r = await cli(['manifest', 'create', '--kk-version', 'v3.1.5', '--with-kubernetes', 'v1.28.12', '--json']);
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(/needs -o FILE or --split DIR/);
  });

  it('an unknown flag is reported as unknown, before any kk-version notice', async () => {
    const r = await cli(['manifest', 'create', '--with-kubernetes', 'v1.28.12', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("error: unknown option '--bogus'");
    expect(r.stderr).not.toContain('notice:');
  });

  it('created manifests start with a yaml-language-server modeline naming the shipped schema file', async () => {
    expect((await create('v1.28.12', 'a.yaml')).code).toBe(0);
    const first = (await readFile(join(dir, 'a.yaml'), 'utf8')).split('\n')[0] ?? '';
    const m = /^# yaml-language-server: \$schema=https:\/\/unpkg\.com\/kko@([^/]+)\/schema\/(.+)$/.exec(first);
    expect(m?.[1]).toBe(
      (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
        .version,
    );
    await expect(readFile(new URL(`../../schema/${m?.[2]}`, import.meta.url), 'utf8')).resolves.toContain('"kko"');
  });
});
