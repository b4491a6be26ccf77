import { KkoError } from '../errors.js';
import { quoteValue } from '../util/safe-text.js';
import type { Compression } from './compress.js';

const COMPRESSIONS: readonly Compression[] = ['gzip', 'zstd', 'none'];

// Longest suffix first; names are compared case-insensitively (ARTIFACT.TGZ is gzip too).
const SUFFIXES: ReadonlyArray<[string, Compression]> = [
  ['.tar.gz', 'gzip'],
  ['.tgz', 'gzip'],
  ['.tar.zst', 'zstd'],
  ['.tar.zstd', 'zstd'],
  ['.tzst', 'zstd'],
  ['.tar', 'none'],
];

// What an output name says about its compression (undefined: the name says nothing, e.g. "-" or "artifact").
export function compressionOfName(name: string): Compression | undefined {
  const lower = name.toLowerCase();
  return SUFFIXES.find(([suffix]) => lower.endsWith(suffix))?.[1];
}

// --compress, else what the -o name says, else gzip (what kk reads). A flag the name contradicts is kept, with a
// warning: the user asked for it, but a .tar.gz holding zstd confuses every tool that trusts the name.
export function compressionForOutput(
  name: string,
  flag: string | undefined,
): { compression: Compression; warning?: string } {
  const named = compressionOfName(name);
  if (flag === undefined) return { compression: named ?? 'gzip' };
  if (!(COMPRESSIONS as readonly string[]).includes(flag))
    throw new KkoError('INVALID_INPUT', `--compress: unknown value ${quoteValue(flag)}`, {
      hint: 'gzip (what kk reads), zstd or none',
    });
  const compression = flag as Compression;
  if (named === undefined || named === compression) return { compression };
  return { compression, warning: `--compress ${compression} but the output name ${name} says ${named}` };
}
