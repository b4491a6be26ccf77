// A loopback TCP proxy that models a WAN link between the tools and the registry:
// - latency: every chunk is delayed by half the round trip in each direction, and a connect costs one round trip;
// - a per-connection rate cap (as CDNs and registry mirrors apply per TCP connection) and a cap for the whole
//   link, shared by all connections, on the download direction (registry → client; requests are tiny).
// The caps are paced at the sender: each connection queues at most QUEUE_HIGH bytes and stops reading from the
// registry while its queue is full (TCP back-pressure does the rest), so the proxy's memory stays bounded by
// connections × (QUEUE_HIGH + rate × one-way delay) whatever the registry serves.
// Both tools go through the same proxy. Listens on 127.0.0.1 only and forwards only to the given target.
// startDelayProxy runs it in a child process of its own (delay-proxy-main.js), so its CPU neither shares the bench
// process's event loop with the measurements nor counts as the bench's; serveDelayProxy is the proxy itself.
import { fork } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import { onCleanup } from './cleanup.js';

const PIECE = 16 * 1024; // pacing granularity: one timer slot sends at most this much
const QUEUE_HIGH = 256 * 1024; // per connection: stop reading the registry above this
const SLACK_MS = 1; // a piece due within this is sent now (timers have ~1 ms resolution; the budget stays exact)
const CATCHUP_MS = 4; // a timer that fires late may catch up this much, so the lateness does not lower the rate

/**
 * A rate budget in virtual time: `next` is when the bytes already sent have drained at `bytesPerMs`.
 * Sending early (within the slack) pushes `next` further, and a late timer catches up at most CATCHUP_MS, so the
 * long-run rate is the cap; idle time earns no burst beyond CATCHUP_MS worth of bytes.
 * @typedef {{ bytesPerMs: number, next: number }} Budget
 */

/** @param {number | undefined} bytesPerSec @returns {Budget | undefined} */
const budget = (bytesPerSec) =>
  bytesPerSec && bytesPerSec > 0 ? { bytesPerMs: bytesPerSec / 1000, next: 0 } : undefined;

/** @param {Budget} b @param {number} now @param {number} bytes */
function spend(b, now, bytes) {
  b.next = Math.max(b.next, now - CATCHUP_MS) + bytes / b.bytesPerMs;
}

/**
 * Forward `from` → `to`, each chunk delayed by `ms` (Node runs timers of equal duration in insertion order, so
 * chunks keep their order), paced by the `budgets` (all must allow a piece before it is sent).
 * @param {import('node:net').Socket} from @param {import('node:net').Socket} to @param {number} ms @param {Budget[]} budgets
 */
function pacedPipe(from, to, ms, budgets) {
  /** @type {Buffer[]} */
  const queue = [];
  let queued = 0;
  let ended = false;
  let endSent = false;
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  let waitingDrain = false;

  const deliver = (/** @type {Buffer} */ piece) => {
    if (to.destroyed) return;
    if (!to.write(piece) && !waitingDrain) {
      waitingDrain = true;
      to.once('drain', () => {
        waitingDrain = false;
        pump();
      });
    }
  };
  const pump = () => {
    timer = undefined;
    while (queue.length > 0 && !waitingDrain) {
      const now = performance.now();
      const ready = Math.max(0, ...budgets.map((b) => b.next));
      if (ready > now + SLACK_MS) {
        timer = setTimeout(pump, ready - now);
        break;
      }
      const piece = /** @type {Buffer} */ (queue.shift());
      queued -= piece.length;
      for (const b of budgets) spend(b, now, piece.length);
      if (ms > 0) setTimeout(deliver, ms, piece);
      else deliver(piece);
    }
    if (queued < QUEUE_HIGH && from.isPaused() && !ended) from.resume();
    if (queue.length > 0 || !ended || endSent) return;
    endSent = true;
    setTimeout(() => to.end(), ms);
  };
  from.on('data', (/** @type {Buffer} */ chunk) => {
    for (let off = 0; off < chunk.length; off += PIECE) queue.push(chunk.subarray(off, off + PIECE));
    queued += chunk.length;
    if (queued >= QUEUE_HIGH) from.pause();
    if (!timer && !waitingDrain) pump();
  });
  from.on('end', () => {
    ended = true;
    if (!timer && !waitingDrain) pump();
  });
  to.on('close', () => {
    if (timer) clearTimeout(timer);
    queue.length = 0;
  });
}

/** @typedef {{ targetPort: number, rttMs: number, connBytesPerSec?: number, linkBytesPerSec?: number, upLinkBytesPerSec?: number }} ProxyOptions */
/** @typedef {{ connections: number, bytesDown: number, blobGets: number, cpuSeconds: number }} ProxyStats */

/**
 * The proxy in a child process. stats(): its counters and the CPU seconds (user + system) the child has used so far.
 * @param {ProxyOptions} opts
 *   connBytesPerSec: cap of each connection's download; linkBytesPerSec: cap of all downloads together;
 *   upLinkBytesPerSec: cap of all uploads together (client → registry: what a push sends).
 * @returns {Promise<{ host: string, pid: number, stop: () => Promise<void>, stats: () => Promise<ProxyStats> }>}
 */
export async function startDelayProxy(opts) {
  const child = fork(new URL('./delay-proxy-main.js', import.meta.url), [JSON.stringify(opts)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { PATH: process.env.PATH ?? '' },
  });
  /** @type {Map<number, (s: ProxyStats) => void>} */
  const waiting = new Map();
  let seq = 0;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const host = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`delay proxy exited with ${code} before listening`)));
    child.on('message', (/** @type {any} */ m) => {
      if (m?.type === 'listening') resolve(m.host);
      if (m?.type === 'stats') waiting.get(m.id)?.(m.stats);
    });
  });
  const stats = () =>
    /** @type {Promise<ProxyStats>} */ (
      new Promise((resolve, reject) => {
        const id = ++seq;
        waiting.set(id, (s) => {
          waiting.delete(id);
          resolve(s);
        });
        if (!child.connected) reject(new Error('the delay proxy has exited'));
        else child.send({ type: 'stats', id });
      })
    );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const unregister = onCleanup(`stop delay proxy ${host} (pid ${child.pid})`, stop);
  return { host, pid: child.pid ?? 0, stop: unregister, stats };
}

/**
 * The proxy itself, in this process (delay-proxy-main.js runs it).
 * @param {ProxyOptions} opts
 * @returns {Promise<{ host: string, stop: () => Promise<void>, stats: () => { connections: number, bytesDown: number, blobGets: number } }>}
 */
export async function serveDelayProxy(opts) {
  const oneWay = opts.rttMs / 2;
  const link = budget(opts.linkBytesPerSec);
  const upLink = budget(opts.upLinkBytesPerSec);
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  let connections = 0;
  let bytesDown = 0;
  let blobGets = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = connect(opts.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (/** @type {Buffer} */ d) => (bytesDown += d.length));
    // Blob GETs from the request lines (requests are small: a line split across chunks is not expected).
    client.on(
      'data',
      (/** @type {Buffer} */ d) =>
        (blobGets += (d.toString('latin1').match(/^GET \S*\/blobs\/sha256:[a-f0-9]{64}/gm) ?? []).length),
    );
    // The TCP handshake costs one round trip before the first byte; model it by holding the client's data.
    client.pause();
    upstream.once('connect', () => setTimeout(() => client.resume(), opts.rttMs));
    const down = [budget(opts.connBytesPerSec), link].filter((b) => b !== undefined);
    pacedPipe(client, upstream, oneWay, upLink ? [upLink] : []);
    pacedPipe(upstream, client, oneWay, down);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const stop = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve(undefined));
    });
  return { host: `127.0.0.1:${port}`, stop, stats: () => ({ connections, bytesDown, blobGets }) };
}
