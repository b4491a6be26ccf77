import { execFile } from 'node:child_process';

// The built CLI (dist/, `npm run build`) in a child node, for what only a process of its own shows: its peak RSS
// and wall time. Asynchronous, so a registry or fault proxy running in the test's own process keeps answering.

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).href;

// The memory bound every input, hostile ones included, must stay under.
export const RSS_LIMIT_KB = 256 * 1024;

export type BuiltCliRun = { code: number | null; stderr: string; maxRssKb: number; ms: number };

// `kko argv`: its exit code, stderr, peak RSS (kB) and wall time.
export function runBuiltCli(argv: string[]): Promise<BuiltCliRun> {
  const script = `const { main } = await import(${JSON.stringify(MAIN)}); const code = await main(JSON.parse(process.argv[1])); process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n'); process.exitCode = code;`;
  const t = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify(argv)],
      { encoding: 'utf8', env: { PATH: '' }, maxBuffer: 64 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        const m = /MAXRSS (\d+)/.exec(stderr);
        resolve({ code, stderr, maxRssKb: m ? Number(m[1]) : Infinity, ms: Date.now() - t });
      },
    );
  });
}
