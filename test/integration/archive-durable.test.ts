import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run-cli.js';

const run = promisify(execFile);
const WRITE = new URL('../../dist/archive/write.js', import.meta.url).pathname;

// Review finding: the artifact (and each split part, and the parts list) is fsynced before it is renamed to its final
// name, and its directory after, so a crash cannot leave a truncated artifact under the name that says it is whole.
// The oracle is strace watching the built writer in a child node: what the kernel was asked to do, in order.
const SCRIPT = `import { randomBytes } from 'node:crypto';
import { writeArchive } from ${JSON.stringify(WRITE)};
const [out, compress, split] = process.argv.slice(2);
const entries = [
  { name: 'images/blobs/sha256/aa', data: randomBytes(300 * 1024) },
  { name: 'kko/inventory.json', data: Buffer.from('{}'), first: true },
];
await writeArchive(entries, out, compress, { SOURCE_DATE_EPOCH: '0' }, split ? { splitSize: Number(split) } : {});
`;

type Call = { name: string; args: string; ret: string };

// The calls of an `strace -f` log, an "unfinished" call joined with its "resumed" rest (threads interleave).
function callsOf(log: string): Call[] {
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

const pathOf = (c: Call): string | undefined => /"([^"]*)"/.exec(c.args)?.[1];

// Whether `path` was opened as fd N in calls[from, to) and fsync(N) came before close(N) and before `to`.
function syncedBetween(calls: readonly Call[], path: string, from: number, to: number): boolean {
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

describe('the written artifact is on disk before it has its name', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('kko-durable-'));
    await writeFile(join(dir, 'write.mjs'), SCRIPT);
  });
  afterAll(async () => cleanup());

  it.each([
    ['a gzip stream', 'a.tar.gz', 'gzip', undefined],
    ['a plain tar written by position', 'a.tar', 'none', undefined],
    ['split parts and their list', 's.tar.gz', 'gzip', '100000'],
  ])('%s: every file fsynced before its rename, the directory after', async (_what, name, compress, split) => {
    const out = join(dir, 'out', name);
    const log = join(dir, `${name}.strace`);
    const trace = ['-f', '-qq', '-o', log, '-e', 'trace=openat,fsync,fdatasync,close,rename,renameat,renameat2'];
    await run('strace', [...trace, process.execPath, join(dir, 'write.mjs'), out, compress, ...(split ? [split] : [])]);
    const calls = callsOf(await readFile(log, 'utf8'));
    const renames = calls.flatMap((c, i) =>
      c.name.startsWith('rename') ? [{ i, paths: [...c.args.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string) }] : [],
    );
    const finals = renames.filter((r) => dirname(r.paths[1] ?? '') === dirname(out));
    expect(finals.length).toBeGreaterThanOrEqual(split ? 3 : 1); // the parts list and at least two parts
    for (const r of finals)
      expect(syncedBetween(calls, r.paths[0] as string, 0, r.i), `${r.paths[0]} → ${r.paths[1]}`).toBe(true);
    const last = Math.max(...finals.map((r) => r.i));
    expect(syncedBetween(calls, dirname(out), last, calls.length), 'the directory, after the last rename').toBe(true);
  });
});
