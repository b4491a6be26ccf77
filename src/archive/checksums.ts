import { createHash } from 'node:crypto';
import { KkoError } from '../errors.js';
import type { TarEntry } from './tar.js';
import { quoteName } from './tar-header.js';

import { SUMS_NAME } from '../artifact-format/paths.js';

export { SUMS_NAME };

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// The text of kko/SHA256SUMS ("<hex>  <path>" per line, sha256sum -c compatible, sorted by path) for path → hex.
export function formatChecksums(rows: Iterable<readonly [string, string]>): Buffer {
  const lines = [...rows]
    .map(([name, hex]) => `${hex}  ${name}`)
    .sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : a.slice(66) > b.slice(66) ? 1 : 0));
  return Buffer.from(`${lines.join('\n')}\n`);
}

// Add kko/SHA256SUMS covering every other entry.
export function withChecksums(entries: readonly TarEntry[]): TarEntry[] {
  const rows = entries.map((e) => {
    const hex = 'data' in e ? sha256Hex(e.data) : e.sha256;
    if (!hex) throw new KkoError('INTERNAL', `no checksum known for archive entry ${e.name}`);
    return [e.name, hex] as const;
  });
  return [...entries, { name: SUMS_NAME, data: formatChecksums(rows), first: true }];
}

// Parse a SHA256SUMS text into path → hex; malformed lines are an error naming the line.
export function parseChecksums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    const m = /^([a-f0-9]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new KkoError('UNSAFE_ARCHIVE', `${SUMS_NAME} line ${i + 1}: not "<sha256>  <path>"`);
    if (out.has(m[2] as string))
      throw new KkoError(
        'UNSAFE_ARCHIVE',
        `${SUMS_NAME} line ${i + 1}: ${quoteName(m[2] as string)} is listed twice (sha256sum -c checks both lines)`,
      );
    out.set(m[2] as string, m[1] as string);
  });
  return out;
}
