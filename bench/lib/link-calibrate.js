// What the link proxy really delivers (#10): `connections` plain HTTP GETs of the fixture's largest blobs through the
// proxy, each connection fetching again as soon as a blob ends, so every connection stays busy; the bytes that arrive
// in a window after a warm-up, over the window. It tells the model's own shortfall (timers that fire late on a loaded
// machine lose link time) from the tool's. Not a target and not the floor: the floor stays unique bytes / link rate.
import { Agent, get } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * @param {string} host 127.0.0.1:PORT of the proxy
 * @param {Array<{ repo: string, digest: string }>} blobs what to fetch, largest first (used round-robin)
 * @param {{ connections?: number, warmMs?: number, windowMs?: number }} [o]
 * @returns {Promise<{ bytesPerSec: number, bytes: number, seconds: number, connections: number }>}
 */
export async function calibrateLink(host, blobs, o = {}) {
  const connections = o.connections ?? 8;
  const warmMs = o.warmMs ?? 400;
  const windowMs = o.windowMs ?? 2000;
  if (blobs.length === 0) throw new Error('calibrateLink: no blobs');
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const t0 = performance.now();
  const from = t0 + warmMs;
  const until = from + windowMs;
  let counted = 0;
  let next = 0;
  /** @returns {Promise<void>} */
  const fetchOne = () =>
    new Promise((resolve, reject) => {
      const b = blobs[next++ % blobs.length];
      const req = get(
        {
          host: host.split(':')[0],
          port: Number(host.split(':')[1]),
          agent,
          path: `/v2/${b?.repo}/blobs/${b?.digest}`,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`calibrateLink: GET ${b?.repo}@${b?.digest}: HTTP ${res.statusCode}`));
            return;
          }
          res.on('data', (/** @type {Buffer} */ d) => {
            const now = performance.now();
            if (now >= from && now < until) counted += d.length;
            if (now >= until) res.destroy();
          });
          res.on('end', resolve);
          res.on('close', resolve);
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
  const worker = async () => {
    while (performance.now() < until) await fetchOne();
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    agent.destroy();
  }
  return { bytesPerSec: counted / (windowMs / 1000), bytes: counted, seconds: windowMs / 1000, connections };
}
