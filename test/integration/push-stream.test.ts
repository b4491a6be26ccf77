import { execFile, spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, stat, cp } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { exportServeFixture, type ServeFixture } from '../support/serve-fixture.js';
import { buildGoReferee, goPack } from '../support/tar-referees.js';
import { checkArgs, jsonEvents, pushArgs } from '../support/cli-args.js';
import { skopeoInspect } from '../support/skopeo.js';
import { runCli, type CliRun } from '../cli/run-cli.js';

// #11 item 1: `kko artifact images push` of a .tar.gz kko did not write (GNU `tar czf`, Go's archive/tar + gzip as
// kk's own export writes it): the layers are deflated, so the push reads the archive twice in order (metadata, then
// the blobs the registry lacks as they stream by). The names are read back by skopeo and compared with the push of
// the kko-written artifact; a corrupt layer fails its image (DIGEST_MISMATCH naming the blob, no tag); the spawned
// CLI stays under 256 MB peak RSS with a 36 MiB layer (a chunked upload: pieces of the one stream).

const sh = promisify(execFile);
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
const MiB = 1024 * 1024;
let fixture: ServeFixture;
let target: TestRegistry;
let unpacked: string;
let gnu: string;
let go: string | undefined;
let zst: string;

type Ev = { type: string; [k: string]: unknown };
const events = (stdout: string): Ev[] => jsonEvents<Ev>(stdout);
const kko = (argv: string[]): Promise<CliRun> => runCli(argv, { cwd: fixture.dir, env: { HOME: fixture.dir } });

const push = (art: string, prefix: string, host = target.host): Promise<CliRun> =>
  kko(pushArgs(art, `${host}/${prefix}`, '--json'));

// Every name created (index and per-arch tags) → its digest, with the registry prefix cut off.
function created(stdout: string, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of events(stdout))
    if (e.type === 'image-done') out.set((e.name as string).replace(`/${prefix}/`, '/'), e.digest as string);
  return out;
}

const rawDigest = async (ref: string): Promise<string> => ((await skopeoInspect(ref)) as { Digest: string }).Digest;

async function tarCzf(from: string, out: string, how = '-z'): Promise<void> {
  await sh('tar', ['-c', how, '-f', out, '-C', from, ...(await readdir(from)).sort()]);
}

beforeAll(async () => {
  fixture = await exportServeFixture('kko-push-stream-', { layerSize: 12 * MiB }); // calico base layer: 36 MiB, sent in two PATCH chunks (32 MiB each)
  target = await startRegistry({ mode: 'plain' });
  unpacked = join(fixture.dir, 'unpacked');
  await mkdir(unpacked, { recursive: true });
  await sh('tar', ['-xzf', fixture.artifact, '-C', unpacked]);
  gnu = join(fixture.dir, 'gnu.tar.gz');
  await tarCzf(unpacked, gnu);
  zst = join(fixture.dir, 'gnu.tar.zst');
  await tarCzf(unpacked, zst, '--zstd'); // zstd frames of compressed blocks: no Raw_Block spans to read in place
  const bin = buildGoReferee();
  if (bin) {
    go = join(fixture.dir, 'go.tar.gz');
    goPack(bin, unpacked, go);
  }
}, 300_000);

afterAll(async () => {
  await target?.stop();
  await fixture?.stop();
});

describe('push of a .tar.gz another tool wrote (layers deflated)', () => {
  let reference: Map<string, string>;

  beforeAll(async () => {
    const r = await push(fixture.artifact, 'kko');
    expect(r.code, r.stderr).toBe(0);
    const src = events(r.stdout).find((e) => e.type === 'source');
    expect(src?.sequentialBlobs).toBeUndefined(); // kko's own .tar.gz is read in place
    reference = created(r.stdout, 'kko');
    const done = events(r.stdout).find((e) => e.type === 'done');
    console.info(`push of the kko artifact: ${String(done?.seconds)} s, ${String(done?.bytesSent)} bytes sent`);
    expect(reference.size).toBeGreaterThan(0);
  }, 120_000);

  it.each([
    ['GNU tar czf', 'gnu'],
    ["Go's archive/tar + gzip", 'go'],
    ['GNU tar --zstd', 'zst'],
  ])(
    '%s: every name pushed, digests equal to the push of the kko artifact (skopeo); check finds them; a re-push sends nothing',
    async (_which, prefix) => {
      const art = prefix === 'gnu' ? gnu : prefix === 'zst' ? zst : go;
      if (!art) return void console.warn('skipped: Go is not installed (KKO_SKIP_GO)');
      const r = await push(art, prefix);
      expect(r.code, r.stderr).toBe(0);
      const evs = events(r.stdout);
      expect(evs.find((e) => e.type === 'source')?.sequentialBlobs).toBeGreaterThan(0);
      expect(created(r.stdout, prefix)).toEqual(reference);
      // skopeo, an independent client, reads every name from the registry: the same digests
      for (const [name, digest] of reference) {
        const ref = name.replace(`${target.host}/`, `${target.host}/${prefix}/`);
        expect(await rawDigest(ref)).toBe(digest);
      }
      const node = [...reference.keys()].find((n) => n.endsWith('node:v3.27.3')) as string;
      const out = join(fixture.dir, `copied-${prefix}`);
      await sh('skopeo', [
        'copy',
        '--quiet',
        '--all',
        '--src-tls-verify=false',
        `docker://${node.replace(`${target.host}/`, `${target.host}/${prefix}/`)}`,
        `oci:${out}:node`,
      ]); // skopeo checks every blob digest as it copies
      const check = await kko(checkArgs(art, `${target.host}/${prefix}`));
      expect(check.code, check.stderr).toBe(0);
      const done = evs.find((e) => e.type === 'done');
      console.info(`push of the ${prefix} repack: ${String(done?.seconds)} s, ${String(done?.bytesSent)} bytes sent`);
      expect(done?.bytesSent).toBeGreaterThan(36 * MiB);
      // unchanged artifact, pushed again: every blob present (HEAD), no second pass, no bytes
      const again = await push(art, prefix);
      expect(again.code, again.stderr).toBe(0);
      const d2 = events(again.stdout).find((e) => e.type === 'done');
      expect(d2?.bytesSent).toBe(0);
      expect(d2?.sourceBytesRead).toBe(0);
    },
    180_000,
  );

  it('a corrupt byte in a layer: DIGEST_MISMATCH naming the blob, no tag for its image, the others pushed', async () => {
    const bad = join(fixture.dir, 'bad');
    await cp(unpacked, bad, { recursive: true });
    const dir = join(bad, 'images', 'blobs', 'sha256');
    const sized = await Promise.all(
      (await readdir(dir)).map(async (n) => ({ n, size: (await stat(join(dir, n))).size })),
    );
    const biggest = sized.sort((a, b) => b.size - a.size)[0] as { n: string; size: number };
    expect(biggest.size).toBeGreaterThan(32 * MiB); // chunked: the corrupt byte is in the first chunk
    const fh = await open(join(dir, biggest.n), 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 12345);
    await fh.write(Buffer.from([(b[0] as number) ^ 0xff]), 0, 1, 12345);
    await fh.close();
    const art = join(fixture.dir, 'bad.tar.gz');
    await tarCzf(bad, art);
    const r = await push(art, 'bad');
    expect(r.code).toBe(1);
    const failed = events(r.stdout).filter((e) => e.type === 'image-failed');
    expect(failed.length).toBe(1);
    const name = failed[0]?.name as string; // the calico/node image: the 36 MiB base layer is its amd64's
    expect(name).toMatch(/node:v3\.27\.3$/);
    expect(failed[0]?.code).toBe('DIGEST_MISMATCH');
    expect(failed[0]?.message).toContain(`sha256:${biggest.n}`);
    expect(r.stderr).toContain(`sha256:${biggest.n}`);
    await expect(rawDigest(name)).rejects.toThrow();
    await expect(rawDigest(`${name}-amd64`)).rejects.toThrow();
    const ok = events(r.stdout).filter((e) => e.type === 'image-done');
    expect(ok.length).toBe(reference.size - 1);
  }, 180_000);

  it('an upload cut in the middle of the big layer fails that image clearly (no tag); a re-run completes it', async () => {
    const proxy = await startFaultProxy({ upstream: target.url });
    try {
      proxy.add({ method: 'PATCH', fault: { kind: 'cut-upload', afterBytes: 4 * MiB } }); // the 36 MiB layer's
      const r = await push(gnu, 'cut', proxy.host);
      expect(r.code).toBe(1);
      const failed = events(r.stdout).filter((e) => e.type === 'image-failed');
      expect(failed.length).toBe(1);
      expect(failed[0]?.name).toMatch(/node:v3\.27\.3$/);
      expect(failed[0]?.code).toBe('IO_ERROR');
      expect(failed[0]?.message).toMatch(/streams by once per pass/);
      expect(r.stderr).toMatch(/hint: re-run the push/);
      await expect(rawDigest(failed[0]?.name as string)).rejects.toThrow();
      const again = await push(gnu, 'cut', proxy.host);
      expect(again.code, again.stderr).toBe(0);
      const onProxy = [...reference].map(([n, d]) => [n.replace(target.host, proxy.host), d] as const);
      expect(created(again.stdout, 'cut')).toEqual(new Map(onProxy));
      for (const [name, digest] of reference)
        expect(await rawDigest(name.replace(`${target.host}/`, `${proxy.host}/cut/`))).toBe(digest);
    } finally {
      await proxy.stop();
    }
  }, 180_000);

  it('the spawned CLI pushes it with a peak RSS under 256 MB', async () => {
    const art = go ?? gnu;
    const child = spawn(process.execPath, [BIN, ...pushArgs(art, `${target.host}/rss`, '--json')], {
      env: { PATH: process.env.PATH ?? '', HOME: join(fixture.dir, 'rss-home') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.resume();
    let peak = 0;
    const poll = setInterval(() => {
      readFile(`/proc/${child.pid}/status`, 'utf8')
        .then((s) => (peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? 0) / 1024)))
        .catch(() => undefined);
    }, 50);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(poll);
    expect(code, err).toBe(0);
    expect(peak).toBeGreaterThan(0);
    console.info(`push of ${art}: peak RSS ${peak.toFixed(1)} MiB`);
    expect(peak).toBeLessThan(256);
  }, 180_000);
});
