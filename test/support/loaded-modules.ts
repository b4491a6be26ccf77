import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

// A node script (bin/kko.js, …) run with a module-resolve hook that records every module it loads (#10 start-up).
// A chunk of the CLI bundle (dist/bundle/, scripts/build-bundle.js) stands for the modules its source map names.
const run = promisify(execFile);
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  appendFileSync(process.env.KKO_TEST_LOADED, r.url + '\\n');
  return r;
}
`;
const CHUNK = /\/dist\/bundle\/[^/]+\.mjs$/;

export type LoadedRun = { code: number; stdout: string; stderr: string; loaded: string[]; modules: string[] };
export type LoadRecorder = (script: string, args: string[], opts?: { cwd?: string }) => Promise<LoadedRun>;

// Writes the hook into `dir` (a temp dir); each run's log goes there too.
export async function loadRecorder(dir: string): Promise<LoadRecorder> {
  await writeFile(join(dir, 'hooks.mjs'), HOOKS);
  const register = join(dir, 'register.mjs');
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
  let n = 0;
  return async (script, args, opts = {}) => {
    const log = join(dir, `loaded-${n++}.txt`);
    await writeFile(log, '');
    const r = await run(process.execPath, ['--import', register, script, ...args], {
      cwd: opts.cwd ?? dir,
      env: { PATH: '', KKO_TEST_LOADED: log },
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      (ok) => ({ code: 0, ...ok }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    const loaded = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, loaded, modules: await modulesOf(loaded) };
  };
}

// The modules behind the loaded URLs: each chunk of the bundle is replaced by the sources its map names.
async function modulesOf(urls: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const url of urls) {
    if (!CHUNK.test(url)) {
      out.push(url);
      continue;
    }
    // rolldown's own runtime helpers come in a chunk without a map: no module of kko or of a package is in it.
    const text = await readFile(`${fileURLToPath(url)}.map`, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && /\/rolldown-runtime-[^/]+\.mjs$/.test(url)) return '{"sources":[]}';
      throw err;
    });
    out.push(...(JSON.parse(text) as { sources: string[] }).sources.map((s) => new URL(s, url).href));
  }
  return out;
}
