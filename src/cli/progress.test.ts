import { describe, expect, it } from 'vitest';
import type { CliIo } from './io.js';
import { formatBytes, ndjsonRenderer, ttyRenderer } from './progress.js';

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {}, cwd: '/', isTTY: true }, out: () => out, err: () => err };
}

describe('progress', () => {
  it('formats bytes in SI units', () => {
    expect([formatBytes(999), formatBytes(1500), formatBytes(2_500_000), formatBytes(3.2e9)]).toEqual(['999 B', '1.5 KB', '2.5 MB', '3.2 GB']);
  });

  it('NDJSON: every event but raw byte counts, which become throttled progress lines', () => {
    const c = capture();
    let now = 0;
    const r = ndjsonRenderer(c.io, () => now);
    r({ type: 'resolved', images: 1, of: 2, failed: 0, totalBytes: 400, cachedBytes: 0 });
    r({ type: 'resolved', images: 2, of: 2, failed: 0, totalBytes: 1000, cachedBytes: 0 });
    now = 1000;
    r({ type: 'bytes', ref: 'a', arch: 'amd64', fetched: 100 });
    now = 1100;
    r({ type: 'bytes', ref: 'a', arch: 'amd64', fetched: 100 });
    now = 1600;
    r({ type: 'bytes', ref: 'a', arch: 'amd64', fetched: 50 });
    const lines = c.out().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { type: 'resolved', images: 2, of: 2, failed: 0, totalBytes: 1000, cachedBytes: 0 },
      { type: 'progress', fetchedBytes: 100, totalBytes: 1000 },
      { type: 'progress', fetchedBytes: 250, totalBytes: 1000 },
    ]);
  });

  it('TTY: an overall bar with bytes, rate and ETA, and one line per image in flight', () => {
    const c = capture();
    let now = 0;
    const r = ttyRenderer(c.io, () => now);
    r.onEvent({ type: 'plan', images: 2, files: 0, arches: ['amd64'], zone: 'default' });
    r.onEvent({ type: 'resolved', images: 2, of: 2, failed: 0, totalBytes: 4_000_000, cachedBytes: 0 });
    r.onEvent({ type: 'image-start', ref: 'docker.io/calico/node:v3.27.3', arch: 'amd64', size: 2_000_000 });
    now = 2000;
    r.onEvent({ type: 'bytes', ref: 'docker.io/calico/node:v3.27.3', arch: 'amd64', fetched: 1_000_000 });
    r.finish();
    const last = c.err().split('\x1b[2K').slice(-2).join('');
    expect(last).toContain('1.0 MB/4.0 MB 500.0 KB/s ETA 0:06  images 0/2');
    expect(last).toContain('docker.io/calico/node:v3.27.3 amd64 1.0 MB/2.0 MB');
  });

  it('TTY: our cursor codes go raw to the frame writer, the data in the bars is escaped', () => {
    let frames = '';
    let errs = '';
    // main() wraps stderr with safeLines and hands the raw writer on as `frame`; reproduce that wiring here.
    const c = capture();
    const io = { ...c.io, stderr: (t: string) => void (errs += t), frame: (t: string) => void (frames += t) };
    const r = ttyRenderer(io, () => 0);
    r.onEvent({ type: 'plan', images: 1, files: 0, arches: ['amd64'], zone: 'default' });
    r.onEvent({ type: 'image-start', ref: 'docker.io/x/evil\u001b]0;pwned\u0007:1', arch: 'amd64', size: 10 });
    r.onEvent({ type: 'warning', message: 'w' });
    r.finish();
    expect(frames).toContain('\x1b[2K');
    expect(frames).toContain('docker.io/x/evil\\u001b]0;pwned\\u0007:1 amd64');
    expect(frames).not.toContain('\x07');
    expect(errs).toBe('warning: w\n');
  });
});
