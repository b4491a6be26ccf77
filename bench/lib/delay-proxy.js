// Optional: a loopback TCP proxy that delays every chunk by half the round-trip time in each direction,
// so the registry behaves like one that is RTT ms away (KKO_BENCH_RTT_MS). Bandwidth is not limited.
// Both tools go through the same proxy. Listens on 127.0.0.1 only and forwards only to the given target.
import { createServer, connect } from 'node:net';
import { setTimeout } from 'node:timers';
import { onCleanup } from './cleanup.js';

/**
 * @param {import('node:net').Socket} from @param {import('node:net').Socket} to @param {number} ms
 */
function delayedPipe(from, to, ms) {
  // Node runs timers of equal duration in insertion order, so chunks keep their order.
  let waiting = false;
  from.on('data', (/** @type {Buffer} */ chunk) => {
    setTimeout(() => {
      if (to.destroyed || to.write(chunk) || waiting) return;
      waiting = true;
      from.pause();
      to.once('drain', () => {
        waiting = false;
        from.resume();
      });
    }, ms);
  });
  from.on('end', () => setTimeout(() => to.end(), ms));
}

/**
 * @param {{ targetPort: number, rttMs: number }} opts
 * @returns {Promise<{ host: string, stop: () => Promise<void> }>}
 */
export async function startDelayProxy(opts) {
  const oneWay = opts.rttMs / 2;
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  const server = createServer((client) => {
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
    // The TCP handshake costs one round trip before the first byte; model it by holding the client's data.
    client.pause();
    upstream.once('connect', () => setTimeout(() => client.resume(), opts.rttMs));
    delayedPipe(client, upstream, oneWay);
    delayedPipe(upstream, client, oneWay);
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
  const unregister = onCleanup(`stop delay proxy :${port}`, stop);
  return { host: `127.0.0.1:${port}`, stop: unregister };
}
