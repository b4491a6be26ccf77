import { describe, expect, it } from 'vitest';
import type { CliIo } from './io.js';
import { formatBytes, ndjsonRenderer, ttyRenderer } from './progress.js';

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {}, cwd: '/', isTTY: true },
    out: () => out,
    err: () => err,
  };
}

describe('progress', () => {
  it('formats bytes in SI units', () => {
    expect([formatBytes(999), formatBytes(1500), formatBytes(2_500_000), formatBytes(3.2e9)]).toEqual([
      '999 B',
      '1.5 KB',
      '2.5 MB',
      '3.2 GB',
    ]);
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
    const lines = c
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { type: 'resolved', images: 2, of: 2, failed: 0, totalBytes: 1000, cachedBytes: 0 },
      { type: 'progress', fetchedBytes: 100, totalBytes: 1000 },
      { type: 'progress', fetchedBytes: 250, totalBytes: 1000 },
    ]);
  });

  it('TTY: bytes of an image that arrive before its image-start (early layers) count on its line', () => {
    const c = capture();
    let now = 0;
    const r = ttyRenderer(c.io, () => now);
    const ref = 'docker.io/calico/node:v3.27.3';
    r.onEvent({ type: 'plan', images: 1, files: 0, arches: ['amd64'], zone: 'default' });
    r.onEvent({ type: 'bytes', ref, arch: 'amd64', fetched: 1_500_000 }); // a layer started while the config is read
    r.onEvent({ type: 'resolved', images: 1, of: 1, failed: 0, totalBytes: 2_000_000, cachedBytes: 0 });
    r.onEvent({ type: 'image-start', ref, arch: 'amd64', size: 2_000_000 });
    now = 1000;
    r.onEvent({ type: 'bytes', ref, arch: 'amd64', fetched: 250_000 });
    r.finish();
    const last = c.err().split('\x1b[2K').slice(-2).join('');
    expect(last).toContain(' 1.8 MB/2.0 MB 1.8 MB/s'); // the overall line
    expect(last).toContain(`${ref} amd64 1.8 MB/2.0 MB`); // the image's line: the same bytes, not 250.0 KB
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

  // The overall line of every frame drawn: percent and "fetched/total".
  const heads = (frames: string): Array<{ pct: number; total: string; line: string }> =>
    frames
      .split('\x1b[2K')
      .filter((l) => /^\[[= ]{24}\]/.test(l))
      .map((line) => ({
        line,
        pct: Number(/\]\s+(\d+)%/.exec(line)?.[1]),
        total: /\/(\S+ [KMG]?B\+?) /.exec(line)?.[1] ?? '',
      }));

  it('TTY: a file size learned late grows the total but never pulls the bar back; files show name, bytes and a count', () => {
    const c = capture();
    let now = 0;
    const r = ttyRenderer(c.io, () => now);
    r.onEvent({ type: 'plan', images: 1, files: 2, arches: ['amd64'], zone: 'default' });
    r.onEvent({ type: 'resolved', images: 1, of: 1, failed: 0, totalBytes: 1000, cachedBytes: 0 });
    r.onEvent({ type: 'image-start', ref: 'docker.io/x/a:1', arch: 'amd64', size: 1000 });
    now = 1000;
    r.onEvent({ type: 'bytes', ref: 'docker.io/x/a:1', arch: 'amd64', fetched: 800 });
    r.onEvent({
      type: 'image-done',
      ref: 'docker.io/x/a:1',
      arch: 'amd64',
      source: 's',
      via: 'mirror',
      digest: 'sha256:x',
      size: 1000,
      fetchedBytes: 800,
    });
    r.onEvent({ type: 'file-start', path: 'kube/v1.28.12/amd64/kubeadm', arch: 'amd64', kind: 'binary' });
    r.onEvent({ type: 'file-size', path: 'kube/v1.28.12/amd64/kubeadm', arch: 'amd64', size: 3000 });
    now = 2000;
    r.onEvent({ type: 'bytes', ref: 'kube/v1.28.12/amd64/kubeadm', arch: 'amd64', fetched: 500 });
    r.onEvent({ type: 'file-start', path: 'helm/v3.14.3/amd64/helm', arch: 'amd64', kind: 'binary' });
    const mid = c.err();
    expect(mid).toContain('kube/v1.28.12/amd64/kubeadm 500 B/3.0 KB');
    expect(mid).toContain('helm/v3.14.3/amd64/helm 0 B/?');
    expect(mid).toMatch(/images 1\/1 {2}files 0\/2/);
    const hs = heads(mid);
    expect(hs.length).toBeGreaterThan(3);
    for (let i = 1; i < hs.length; i++) expect(hs[i]?.pct, hs[i]?.line).toBeGreaterThanOrEqual(hs[i - 1]?.pct ?? 0);
    expect(hs.at(-1)?.pct).toBe(80); // 1300 of 4000 bytes would be 32 %: the bar holds at 80 % until bytes catch up
    expect(hs.at(-1)?.total).toBe('4.0 KB+'); // helm's size is not known yet
    r.onEvent({ type: 'file-size', path: 'helm/v3.14.3/amd64/helm', arch: 'amd64', size: 1000 });
    r.onEvent({ type: 'bytes', ref: 'helm/v3.14.3/amd64/helm', arch: 'amd64', fetched: 1000 });
    r.onEvent({
      type: 'file-done',
      path: 'helm/v3.14.3/amd64/helm',
      source: 's',
      via: 'mirror',
      sha256: 'x',
      fetchedBytes: 1000,
    });
    expect(heads(c.err()).at(-1)?.total).toBe('5.0 KB');
  });

  it('TTY: the final line of a complete run reads 100 % with the whole total, and drops the per-item lines', () => {
    const c = capture();
    let now = 0;
    const r = ttyRenderer(c.io, () => now);
    r.onEvent({ type: 'plan', images: 1, files: 0, arches: ['amd64'], zone: 'default' });
    r.onEvent({ type: 'resolved', images: 1, of: 1, failed: 0, totalBytes: 2_000_000, cachedBytes: 0 });
    r.onEvent({ type: 'image-start', ref: 'docker.io/x/a:1', arch: 'amd64', size: 2_000_000 });
    now = 1000;
    r.onEvent({ type: 'bytes', ref: 'docker.io/x/a:1', arch: 'amd64', fetched: 1_500_000 }); // the rest was a resumed partial
    r.onEvent({
      type: 'image-done',
      ref: 'docker.io/x/a:1',
      arch: 'amd64',
      source: 's',
      via: 'mirror',
      digest: 'sha256:x',
      size: 2_000_000,
      fetchedBytes: 1_500_000,
    });
    r.finish(true);
    const last = c.err().split('\x1b[2K').at(-1) ?? '';
    expect(last).toMatch(/^\[={24}\] 100% 2\.0 MB\/2\.0 MB .* ETA 0:00 {2}images 1\/1\n$/);
  });

  it('NDJSON progress: totalBytes counts file sizes as they are learned and never shrinks', () => {
    const c = capture();
    let now = 0;
    const r = ndjsonRenderer(c.io, () => now);
    r({ type: 'plan', images: 0, files: 1, arches: ['amd64'], zone: 'default' });
    r({ type: 'resolved', images: 0, of: 0, failed: 0, totalBytes: 0, cachedBytes: 0 });
    r({ type: 'file-start', path: 'f', arch: 'amd64', kind: 'binary' });
    r({ type: 'file-size', path: 'f', arch: 'amd64', size: 5000 });
    now = 1000;
    r({ type: 'bytes', ref: 'f', arch: 'amd64', fetched: 100 });
    const lines = c
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.map((l) => l.type)).toEqual(['plan', 'resolved', 'file-start', 'progress']);
    expect(lines.at(-1)).toEqual({ type: 'progress', fetchedBytes: 100, totalBytes: 5000 });
  });
});
