import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KkoError } from '../errors.js';

// A split artifact (`export --split-size`): ART.part-000, ART.part-001, … whose concatenation is the artifact,
// plus ART.parts.sha256 in `sha256sum` format (each part's sha256, so every medium can be checked on its own).
// Three digits sort the same as numbers for `cat ART.part-*`, so an artifact has at most 1000 parts.
export const MAX_PARTS = 1000;
// The smallest part `export --split-size` accepts (and `artifact pull` takes from a published recipe).
export const MIN_SPLIT_SIZE = 1024 * 1024;
const PART_RE = /^(.+)\.part-([0-9]{3})$/;
const LIST_MAX_BYTES = 256 * 1024; // 1000 lines of 64 hex + a name

export type PartRecord = { readonly name: string; readonly sha256: string };

// `ART.part-007` for (ART, 7).
export function partName(base: string, index: number): string {
  return `${base}.part-${String(index).padStart(3, '0')}`;
}

// The sha256 list beside the parts.
export function partsListName(base: string): string {
  return `${base}.parts.sha256`;
}

// (base, index) of a part name, or undefined for any other name.
export function parsePartName(name: string): { base: string; index: number } | undefined {
  const m = PART_RE.exec(name);
  return m ? { base: m[1] as string, index: Number(m[2]) } : undefined;
}

// The parts of `base` present in its directory, by index (paths), whatever their order on disk.
export async function presentParts(base: string): Promise<Map<number, string>> {
  const dir = dirname(base);
  const names = await readdir(dir).catch(() => [] as string[]);
  const found = new Map<number, string>();
  for (const name of names) {
    const p = parsePartName(name);
    if (p && p.base === basename(base)) found.set(p.index, join(dir, name));
  }
  return found;
}

// The list's text: `<sha256>  <part name>` per line, names without directories, as `sha256sum` writes them.
export function formatPartsList(parts: readonly PartRecord[]): string {
  return parts.map((p) => `${p.sha256}  ${p.name}\n`).join('');
}

// The list for `base`, strictly: every line `<64 hex>  <base>.part-NNN` (a `*` binary marker allowed), in order from 000.
export function parsePartsList(text: string, base: string, listPath: string): PartRecord[] {
  if (text.length > LIST_MAX_BYTES)
    throw new KkoError('INVALID_INPUT', `reading ${listPath}: more than ${LIST_MAX_BYTES} bytes; not a parts list`);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line, i) => {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.replace(/\r$/, ''));
    const want = partName(basename(base), i);
    if (!m || m[2] !== want) {
      throw new KkoError('INVALID_INPUT', `reading ${listPath}: line ${i + 1}: expected "<sha256>  ${want}"`, {
        hint: 'the list is written by `kko artifact export --split-size`; pass the parts without it by removing or fixing it',
      });
    }
    return { name: want, sha256: m[1] as string };
  });
}
