import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { WriteBehind } from './durable.js';

// A file handle that records its syncs; each datasync waits until the test lets it finish.
function recordingHandle(fail?: Error) {
  const calls: string[] = [];
  const pending: Array<() => void> = [];
  const fh = {
    datasync: () => {
      calls.push('datasync');
      return new Promise<void>((resolve, reject) => pending.push(() => (fail ? reject(fail) : resolve())));
    },
    sync: () => {
      calls.push('sync');
      return Promise.resolve();
    },
  } as unknown as FileHandle;
  const finishOne = async () => {
    pending.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { fh, calls, finishOne };
}

describe('WriteBehind (#10: writeback started while the artifact is written)', () => {
  it('starts a datasync once every `every` bytes, one at a time, and fsyncs the whole file at the end', async () => {
    const { fh, calls, finishOne } = recordingHandle();
    const wb = new WriteBehind(fh, 100);
    wb.wrote(60);
    expect(calls).toEqual([]);
    wb.wrote(60); // 120 ≥ 100
    expect(calls).toEqual(['datasync']);
    wb.wrote(500); // one is still running: none more
    expect(calls).toEqual(['datasync']);
    await finishOne();
    wb.wrote(100);
    expect(calls).toEqual(['datasync', 'datasync']);
    const done = wb.sync();
    await finishOne();
    await done;
    expect(calls).toEqual(['datasync', 'datasync', 'sync']);
  });

  it('a background datasync’s failure is thrown by sync(), not lost (the kernel reports it to one sync only)', async () => {
    const { fh, calls, finishOne } = recordingHandle(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    const wb = new WriteBehind(fh, 10);
    wb.wrote(10);
    await finishOne();
    await expect(wb.sync()).rejects.toThrow(/EIO/);
    expect(calls).toEqual(['datasync']); // no final fsync reported a success over it
    await expect(wb.settle()).rejects.toThrow(/EIO/);
  });
});
