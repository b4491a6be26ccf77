import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;

// The installed form: bin/kko.js → dist/, with the pre-parsed catalog bundle.
describe('the built CLI', () => {
  it('writes the same manifest as the in-process CLI (bundle and YAML catalogs agree)', async () => {
    const args = [
      'manifest',
      'create',
      '--kk-version',
      'v3.1.9',
      '--with-kubernetes',
      'v1.30.4',
      '--with-kubesphere',
      '--ks-components',
      'core,devops',
      '--lb',
      'haproxy',
    ];
    const spawned = await run(process.execPath, [BIN, ...args], { env: { PATH: '' } }).catch(
      (e: unknown) => e as { stdout: string; stderr: string },
    );
    const inproc = await runCli(args);
    expect(inproc.code).toBe(2); // KubeSphere v3.4.1 stops at Kubernetes v1.26
    expect(spawned.stderr).toBe(inproc.stderr);
    const ok = [
      'manifest',
      'create',
      '--kk-version',
      'v3.1.9',
      '--with-kubernetes',
      'v1.26.15',
      '--with-kubesphere',
      '--ks-components',
      'core,devops',
      '--lb',
      'haproxy',
    ];
    const a = await run(process.execPath, [BIN, ...ok], { env: { PATH: '' } });
    expect(a.stdout).toBe((await runCli(ok)).stdout);
  });

  it('exit codes: --help 0, unknown command 2, --version prints the version', async () => {
    const help = await run(process.execPath, [BIN, '--help']);
    expect(help.stdout).toContain('manifest');
    const bad = (await run(process.execPath, [BIN, 'frobnicate']).then(
      () => ({ code: 0 }),
      (e: unknown) => e,
    )) as { code: number };
    expect(bad.code).toBe(2);
    const v = await run(process.execPath, [BIN, '--version']);
    const pkg = JSON.parse(
      await import('node:fs/promises').then((fs) =>
        fs.readFile(new URL('../../package.json', import.meta.url), 'utf8'),
      ),
    );
    expect(v.stdout.trim()).toBe(pkg.version);
  });
});
