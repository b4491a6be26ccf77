import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestYaml } from '../support/cli-args.js';
import { tempDir } from './run-cli.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;

// #10: the command definitions (src/cli/commands) are cheap and every action loads what it needs when it runs
// (src/cli/actions, through import()). A module-resolve hook in the spawned CLI records every module it loads.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  appendFileSync(process.env.KKO_TEST_LOADED, r.url + '\\n');
  return r;
}
`;

// What costs start-up (zod with its locales, undici, yaml: ~0.2 s together) and the library modules behind actions;
// the definitions may name the few constants their option texts show (choices, zones, node-config formats).
const HEAVY =
  /\/node_modules\/(zod|undici|yaml|bcryptjs|fzstd|@bokuweb)\/|\/dist\/(?!cli\/(?!actions\/)|util\/|errors|version|log|catalog\/choices|mirror\/zones|node-config\/types)/;

describe('CLI start-up (#10)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('kko-startup-'));
    await writeFile(join(dir, 'hooks.mjs'), HOOKS);
    await writeFile(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});\n`,
    );
  });
  afterAll(async () => cleanup());

  // `fails`: the run is expected to exit non-zero (what it loaded up to then is what counts).
  const loadedBy = async (
    args: string[],
    o: { fails?: boolean } = {},
  ): Promise<{ stdout: string; loaded: string[] }> => {
    const log = join(dir, `loaded-${n++}.txt`);
    await writeFile(log, '');
    const r = await run(process.execPath, ['--import', join(dir, 'register.mjs'), BIN, ...args], {
      env: { PATH: '', KKO_TEST_LOADED: log },
    }).catch((err: { stdout: string; code?: number }) => {
      if (!o.fails) throw err;
      return err;
    });
    return { stdout: r.stdout, loaded: (await readFile(log, 'utf8')).split('\n').filter(Boolean) };
  };

  it('--version, --help and a command’s --help load no schema, HTTP, YAML or library module', async () => {
    for (const args of [
      ['--version'],
      ['--help'],
      ['artifact', 'export', '--help'],
      ['manifest', 'create', '--help'],
    ]) {
      const { stdout, loaded } = await loadedBy(args);
      expect(stdout.length, args.join(' ')).toBeGreaterThan(0);
      expect(loaded.length, args.join(' ')).toBeGreaterThan(5); // the hook saw the CLI load
      expect(
        loaded.filter((u) => HEAVY.test(u)),
        args.join(' '),
      ).toEqual([]);
    }
  });

  it('--help still lists every option of a command whose action is loaded lazily', async () => {
    const { stdout } = await loadedBy(['artifact', 'export', '--help']);
    for (const flag of ['--manifest', '--mirror-config', '--concurrency', '--with-referrers', '--split-size', '--base'])
      expect(stdout).toContain(flag);
  });

  it('an action loads its modules when it runs', async () => {
    const { stdout, loaded } = await loadedBy(['version', '--json']);
    expect(JSON.parse(stdout)).toHaveProperty('kk');
    expect(loaded.some((u) => u.endsWith('/dist/cli/actions/version.js'))).toBe(true);
    expect(loaded.some((u) => u.includes('/dist/catalog/'))).toBe(true);
  });

  it('artifact inventory --registry plans the push names without loading the push action', async () => {
    const m = join(dir, 'have.yaml');
    await writeFile(m, manifestYaml(['docker.io/library/redis:7'], ['amd64']));
    // nothing listens on port 1: the action fails at the registry, after planning
    const args = ['artifact', 'inventory', '--registry', '127.0.0.1:1', '--plain-http', '--retries', '0'];
    const { loaded } = await loadedBy([...args, '--kk-version', 'v3.1.12', '-m', m], { fails: true });
    expect(loaded.some((u) => u.endsWith('/dist/cli/actions/artifact-have.js'))).toBe(true);
    expect(loaded.some((u) => u.endsWith('/dist/push/plan.js'))).toBe(true);
    expect(loaded.filter((u) => u.endsWith('/dist/cli/actions/artifact-images.js'))).toEqual([]);
  });
});
