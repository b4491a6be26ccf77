// Child processes timed from the outside: wall time (hrtime around spawn→exit) and peak RSS.
// Peak RSS comes from GNU time (/usr/bin/time, %M = max resident set in KiB) when it is installed,
// else from polling /proc/<pid>/status VmHWM (the kernel's own high-water mark) every 10 ms.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { onCleanup } from './cleanup.js';

const GNU_TIME = '/usr/bin/time';
// USER_HZ: 100 on every Linux architecture Node runs on (sysconf(_SC_CLK_TCK)).
const CLOCK_TICKS = 100;
export const rssSource = existsSync(GNU_TIME) ? 'GNU time %M' : '/proc VmHWM polling';

/**
 * @typedef {object} Measured
 * @property {number | null} code exit status (null when killed by a signal)
 * @property {string | null} signal
 * @property {number} seconds wall time
 * @property {number | undefined} maxRssKiB peak resident set of the process (KiB)
 * @property {number | undefined} cpuSeconds user + system CPU time of the process and its children (GNU time only)
 * @property {string} stdout the last 64 KiB of stdout (when not consumed line by line)
 * @property {string} stderr the last 64 KiB of stderr
 */

/**
 * @typedef {object} MeasureOptions
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string} [cwd]
 * @property {(line: string, ms: number) => void} [onLine] stdout lines with ms since spawn
 * @property {number} [timeoutMs] killed (the whole process group) after this; default 15 min
 */

const TAIL = 64 * 1024;
const tail = (/** @type {string} */ s) => (s.length > TAIL ? s.slice(-TAIL) : s);

/** @param {number} pid */
function vmHwmKiB(pid) {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Run `cmd args` in its own process group and measure it.
 * @param {string} cmd
 * @param {string[]} args
 * @param {MeasureOptions} [opts]
 * @returns {Promise<Measured>}
 */
export async function measure(cmd, args, opts = {}) {
  const scratch = await mkdtemp(join(tmpdir(), 'kko-bench-time-'));
  const dropScratch = onCleanup(`remove ${scratch}`, () => rm(scratch, { recursive: true, force: true }));
  const timeFile = join(scratch, 'time.txt');
  const useTime = rssSource.startsWith('GNU');
  const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args]] : [cmd, args];
  try {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = /** @type {number} */ (child.pid);
    const killGroup = () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const unregister = onCleanup(`kill ${cmd} (pgid ${pid})`, killGroup);
    let hwm = /** @type {number | undefined} */ (undefined);
    const poll = useTime ? undefined : setInterval(() => (hwm = vmHwmKiB(pid) ?? hwm), 10);
    const timer = setTimeout(killGroup, opts.timeoutMs ?? 15 * 60_000);
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (/** @type {string} */ d) => {
      if (!opts.onLine) {
        stdout = tail(stdout + d);
        return;
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const lines = (partial + d).split('\n');
      partial = /** @type {string} */ (lines.pop());
      for (const line of lines) if (line) opts.onLine(line, ms);
    });
    child.stderr.setEncoding('utf8').on('data', (/** @type {string} */ d) => (stderr = tail(stderr + d)));
    /** @type {[number | null, string | null]} */
    const [code, signal] = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    clearTimeout(timer);
    if (poll) clearInterval(poll);
    await unregister();
    if (partial && opts.onLine) opts.onLine(partial, seconds * 1000);
    let maxRssKiB = hwm;
    let cpuSeconds;
    if (useTime) {
      // GNU time writes "Command exited with non-zero status N" first when the command failed.
      const lines = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n');
      const [rss, user, sys] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
      maxRssKiB = rss !== undefined && Number.isFinite(rss) && rss > 0 ? rss : undefined;
      cpuSeconds = user !== undefined && sys !== undefined && Number.isFinite(user + sys) ? user + sys : undefined;
    }
    return { code, signal, seconds, maxRssKiB, cpuSeconds, stdout, stderr };
  } finally {
    await dropScratch();
  }
}

/**
 * Run a helper command to completion; rejects with its stderr when it fails.
 * @param {string} cmd
 * @param {string[]} args
 * @param {MeasureOptions} [opts]
 * @returns {Promise<Measured>}
 */
export async function run(cmd, args, opts = {}) {
  const r = await measure(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`);
  return r;
}

/**
 * CPU seconds (user + system) a running process has used so far, from /proc/<pid>/stat; undefined off Linux.
 * @param {number} pid @returns {number | undefined}
 */
export function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based), in clock ticks.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
