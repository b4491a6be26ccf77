// The CNCF distribution registry (Debian's docker-registry) on a free 127.0.0.1 port, with its own
// config in a temp dir. Never binds anything but loopback, never reads /etc/docker/registry.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearTimeout, setTimeout } from 'node:timers';
import { onCleanup } from './cleanup.js';

export const REGISTRY_BIN = process.env.KKO_BENCH_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** @returns {Promise<number>} a port that was free on 127.0.0.1 a moment ago */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** @param {string} url @returns {Promise<number | undefined>} */
function probe(url) {
  return new Promise((resolve) => {
    const req = request(`${url}/v2/`, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * @typedef {object} BenchRegistry
 * @property {string} host "127.0.0.1:PORT"
 * @property {string} url "http://127.0.0.1:PORT"
 * @property {number} pid
 * @property {() => Promise<void>} stop
 */

/**
 * Start a plain-HTTP, no-auth registry serving `root` (its filesystem storage). With `readonly`,
 * pushes are refused and nothing under `root` is written (used to serve the cached fixture).
 * @param {{ root: string, readonly?: boolean }} opts
 * @returns {Promise<BenchRegistry>}
 */
export async function startRegistry(opts) {
  if (!existsSync(REGISTRY_BIN)) {
    throw new Error(
      `${REGISTRY_BIN} not found: install Debian's docker-registry (apt-get install docker-registry) or set KKO_BENCH_REGISTRY_BIN`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'kko-bench-reg-'));
  const removeDir = onCleanup(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    // JSON is YAML. Access log off and log level warn: logging every request costs the registry CPU.
    await writeFile(
      configPath,
      JSON.stringify({
        version: '0.1',
        log: { level: 'warn', accesslog: { disabled: true } },
        storage: {
          filesystem: { rootdirectory: opts.root },
          cache: { blobdescriptor: 'inmemory' },
          maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: Boolean(opts.readonly) } },
        },
        http: { addr: `127.0.0.1:${port}`, secret: 'kko-bench-not-secret' },
      }),
    );
    const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (/** @type {Buffer} */ d) => (err = (err + d.toString()).slice(-8192)));
    const stop = () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve(undefined);
        });
        child.kill('SIGTERM');
      });
    const unregister = onCleanup(`stop docker-registry pid ${child.pid}`, stop);
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    let busy = false;
    for (;;) {
      if (child.exitCode !== null) {
        if (/address already in use/i.test(err)) {
          busy = true;
          break;
        }
        throw new Error(`docker-registry exited (${child.exitCode}): ${err}`);
      }
      if ((await probe(url)) === 200) break;
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url}/v2/ within 15 s: ${err}`);
      await sleep(25);
    }
    if (busy) {
      await unregister();
      continue;
    }
    return {
      host: `127.0.0.1:${port}`,
      url,
      pid: /** @type {number} */ (child.pid),
      stop: async () => {
        await unregister();
        await removeDir();
      },
    };
  }
  throw new Error('docker-registry: no free port after 5 tries');
}
