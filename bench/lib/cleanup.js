// Cleanup that runs on success, on failure and on Ctrl-C: temp dirs removed, child processes stopped.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** @type {Array<{ label: string, fn: () => Promise<void> | void }>} */
const stack = [];
/** Steps released early (through the function onCleanup returns) that are still running. */
const inflight = new Set();
/** @type {Promise<void> | undefined} */
let current;

/**
 * Register a cleanup step; steps run last-registered first. Returns a function that runs the step
 * now (and unregisters it), for resources released before the end of the run.
 * @param {string} label
 * @param {() => Promise<void> | void} fn
 * @returns {() => Promise<void>}
 */
export function onCleanup(label, fn) {
  const entry = { label, fn };
  stack.push(entry);
  return async () => {
    const i = stack.indexOf(entry);
    if (i < 0) return;
    stack.splice(i, 1);
    const p = Promise.resolve().then(fn);
    inflight.add(p);
    try {
      await p;
    } finally {
      inflight.delete(p);
    }
  };
}

/**
 * Run every registered step (each at most once) and wait for early-released ones still running;
 * failures are reported, not thrown. Concurrent callers (a signal during a failing run) share one pass.
 * @returns {Promise<void>}
 */
export function runCleanup() {
  current ??= (async () => {
    try {
      for (;;) {
        const entry = stack.pop();
        if (entry) {
          try {
            await entry.fn();
          } catch (err) {
            console.error(
              `bench: cleanup "${entry.label}" failed: ${err instanceof Error ? err.message : String(err)}`,
            );
          }
        } else if (inflight.size > 0) {
          await Promise.allSettled([...inflight]);
        } else {
          break;
        }
      }
    } finally {
      current = undefined;
    }
  })();
  return current;
}

/**
 * A fresh directory under os.tmpdir(), removed at cleanup.
 * @param {string} prefix
 * @returns {Promise<string>}
 */
export async function tempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** On SIGINT/SIGTERM: clean up, then exit 130/143. Installed once by the runner. */
export function installSignalHandlers() {
  for (const [sig, code] of /** @type {const} */ ([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ])) {
    process.once(sig, () => {
      console.error(`\nbench: ${sig}, cleaning up…`);
      runCleanup().finally(() => process.exit(code));
    });
  }
}
