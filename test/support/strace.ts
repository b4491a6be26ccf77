import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

// strace as a test oracle: what a child node asked the kernel to do, in order (fsync before rename, say).

const run = promisify(execFile);

export type Call = { name: string; args: string; ret: string };

// Run `node script args…` under `strace -f`, tracing opens, syncs, closes, renames and unlinks; its calls, in order.
export async function traceNode(script: string, args: readonly string[], log: string): Promise<Call[]> {
  const trace = [
    '-f',
    '-qq',
    '-o',
    log,
    '-e',
    'trace=openat,fsync,fdatasync,close,rename,renameat,renameat2,unlink,unlinkat',
  ];
  await run('strace', [...trace, process.execPath, script, ...args]);
  return callsOf(await readFile(log, 'utf8'));
}

// The calls of an `strace -f` log, an "unfinished" call joined with its "resumed" rest (threads interleave).
export function callsOf(log: string): Call[] {
  const pending = new Map<string, string>();
  const calls: Call[] = [];
  for (const line of log.split('\n')) {
    const m = /^(\d+) +(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, rest] = m as unknown as [string, string, string];
    let text = rest;
    if (text.endsWith('<unfinished ...>')) {
      pending.set(pid, text.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(text);
    if (resumed) text = `${pending.get(pid) ?? ''}${resumed[1] as string}`;
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(text);
    if (call) calls.push({ name: call[1] as string, args: call[2] as string, ret: call[3] as string });
  }
  return calls;
}

export const pathOf = (c: Call): string | undefined => /"([^"]*)"/.exec(c.args)?.[1];

// Whether `path` was opened as fd N in calls[from, to) and fsync(N) came before close(N) and before `to`.
export function syncedBetween(calls: readonly Call[], path: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = calls[i] as Call;
    if (c.name !== 'openat' || pathOf(c) !== path || c.ret === '-1') continue;
    for (let j = i + 1; j < to; j++) {
      const d = calls[j] as Call;
      if (d.args.split(',')[0]?.trim() !== c.ret) continue;
      if (d.name === 'fsync' || d.name === 'fdatasync') return true;
      if (d.name === 'close') break;
    }
  }
  return false;
}

// The renames of `calls` with their index and (from, to) paths.
export function renamesOf(calls: readonly Call[]): Array<{ i: number; from: string; to: string }> {
  return calls.flatMap((c, i) => {
    if (!c.name.startsWith('rename')) return [];
    const [from, to] = [...c.args.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
    return from !== undefined && to !== undefined ? [{ i, from, to }] : [];
  });
}
