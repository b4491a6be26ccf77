// Small formatting and environment helpers shared by the benches.
import { readdir, stat } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

/** @param {number} bytes */
export const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

/** @param {number} s */
export const secs = (s) => `${s.toFixed(2)}s`;

/** "1.45 1.04 0.68 (2 cores)" */
export function loadLine() {
  return `${loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')} (${cpus().length} cores)`;
}

/**
 * A plain text table, columns right-aligned except the first.
 * @param {string[]} head @param {Array<Array<string>>} rows @returns {string}
 */
export function table(head, rows) {
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (/** @type {string[]} */ r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Total size of the regular files under `dir`.
 * @param {string} dir @returns {Promise<{ bytes: number, files: number }>}
 */
export async function duBytes(dir) {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    bytes += (await stat(join(e.parentPath ?? e.path, e.name))).size;
    files++;
  }
  return { bytes, files };
}

/** @param {number[]} xs */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? /** @type {number} */ (s[m]) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}
