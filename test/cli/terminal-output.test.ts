import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { fixtureSet, pushIndex } from '../support/builders.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tempDir } from './run-cli.js';

// The built CLI (npm run build) on a pseudo-terminal (util-linux `script`) and with stderr redirected: colours and
// bars only on a terminal, NO_COLOR / FORCE_COLOR honoured, no escape code in a redirected stderr.
const run = promisify(execFile);
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
const ESC = '\x1b';
const fx = fixtureSet({ baseSize: 256 * 1024, layerSize: 64 * 1024 });
let reg: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  await run('script', ['--version']).catch(() => {
    throw new Error('util-linux `script` is needed for the terminal tests (apt-get install bsdutils)');
  });
  reg = await startRegistry({ mode: 'plain' });
  work = await tempDir('kko-tty-');
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
  await c.close();
  await writeFile(
    join(work.dir, 'm.yaml'),
    'apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64, arm64]\n  images:\n  - docker.io/kubesphere/pause:3.9\n',
  );
  await writeFile(
    join(work.dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- {prefix: docker.io, mirrors: [{location: "${reg.host}", plainHTTP: true}], upstream: false}\n`,
  );
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await work?.cleanup();
});

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '',
  HOME: work.dir,
  TERM: 'xterm',
  ...extra,
});
const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
const kkoCmd = (args: string[]): string => [process.execPath, BIN, ...args].map(q).join(' ');

// Under a pseudo-terminal: stdout and stderr are the terminal; what the terminal showed comes back.
async function onTty(args: string[], extraEnv: Record<string, string> = {}, redirect = ''): Promise<string> {
  const r = await run('script', ['-qfec', `${kkoCmd(args)}${redirect}`, '/dev/null'], {
    cwd: work.dir,
    env: env(extraEnv),
  }).catch((e: { stdout: string }) => e);
  return r.stdout;
}

// Plain pipes: nothing is a terminal.
async function piped(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { cwd: work.dir, env: env(extraEnv) }).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
}

const missing = ['artifact', 'export', '-m', 'no-such.yaml', '-o', 'x.tar.gz'];

describe('colours', () => {
  it('error: and hint: are coloured on a terminal', async () => {
    const out = await onTty(missing);
    expect(out).toContain(`${ESC}[31;1merror:${ESC}[0m`);
  });

  it('NO_COLOR turns colour off on a terminal; FORCE_COLOR wins over it', async () => {
    expect(await onTty(missing, { NO_COLOR: '1' })).not.toContain(ESC);
    expect(await onTty(missing, { NO_COLOR: '1', FORCE_COLOR: '1' })).toContain(`${ESC}[31;1merror:`);
  });

  it('a redirected stderr gets no escape code; FORCE_COLOR colours it anyway', async () => {
    const plain = await piped(missing);
    expect(plain.stderr).toMatch(/^error: /);
    expect(plain.stderr).not.toContain(ESC);
    expect((await piped(missing, { FORCE_COLOR: '1' })).stderr).toContain(`${ESC}[31;1merror:`);
  });
});

describe('progress on a terminal', () => {
  const exportArgs = (out: string, ...extra: string[]) => [
    'artifact',
    'export',
    '-m',
    'm.yaml',
    '--mirror-config',
    'mirrors.yaml',
    '--cache',
    'cache',
    '-o',
    out,
    '--force',
    ...extra,
  ];

  it('bars on a terminal stderr, ending in a 100 % line and the summary', async () => {
    const out = await onTty(exportArgs('a.tar.gz'));
    expect(out).toContain(`${ESC}[2K`);
    expect(out).toMatch(/\[={24}\] 100% [\d.]+ [KM]?B\/[\d.]+ [KM]?B .*images 2\/2/);
    expect(out).toContain('exported 2 image(s)');
  });

  it('stderr redirected (stdout still a terminal): no bars and no escape codes in it', async () => {
    await mkdir(join(work.dir, 'r'), { recursive: true });
    await onTty(exportArgs('b.tar.gz'), {}, ' 2>r/err.txt');
    const err = await readFile(join(work.dir, 'r/err.txt'), 'utf8');
    expect(err).not.toContain(ESC);
    const p = await piped(exportArgs('c.tar.gz'));
    expect(p.stderr).not.toContain(ESC);
    expect(p.stdout).toContain('"type":"done"'); // NDJSON, since stdout is no terminal
  });

  it('--quiet: no bars and no summary on a terminal', async () => {
    const out = await onTty(exportArgs('d.tar.gz', '--quiet'));
    expect(out).not.toContain('[===');
    expect(out).not.toContain('exported');
  });
});
