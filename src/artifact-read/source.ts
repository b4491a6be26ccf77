import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KkoError } from '../errors.js';
import { parsePartName, parsePartsList, partName, partsListName, presentParts } from '../archive/parts.js';

// The file(s) whose bytes, in order, are the artifact: one file, or the parts of a split one (with the sha256 each
// must have when ART.parts.sha256 is there).
export type SourceFile = { readonly path: string; readonly size: number; readonly sha256?: string };
export type ArtifactSource = {
  readonly files: readonly SourceFile[];
  readonly size: number;
  readonly partsList?: string;
};

function readError(path: string, err: unknown): KkoError {
  return err instanceof KkoError
    ? err
    : new KkoError('IO_ERROR', `reading artifact ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
        cause: err,
      });
}

async function statOrUndefined(path: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw readError(path, err);
  }
}

// `'ART.part-*'` (quoted, so kko expands it): the base of the parts it matches. Only `*` and `?`, in the file name.
async function baseOfGlob(path: string): Promise<string> {
  const dir = dirname(path);
  if (/[*?]/.test(dir))
    throw new KkoError('INVALID_INPUT', `reading artifact ${path}: a pattern may only be in the file name`, {
      hint: "e.g. 'DIR/ART.part-*'",
    });
  const re = new RegExp(
    `^${basename(path)
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  const matches = (await readdir(dir).catch(() => [] as string[])).filter((n) => re.test(n)).sort();
  const bases = new Set<string>();
  for (const name of matches) {
    const part = parsePartName(name);
    if (part) bases.add(part.base);
    else if (!name.endsWith('.parts.sha256'))
      throw new KkoError(
        'INVALID_INPUT',
        `reading artifact ${path}: the pattern matches ${name}, which is not a part (NAME.part-NNN)`,
        { hint: "match only the parts, e.g. 'ART.part-*'" },
      );
  }
  if (bases.size === 0)
    throw new KkoError('FILE_NOT_FOUND', `reading artifact ${path}: the pattern matches no part (NAME.part-NNN)`);
  if (bases.size > 1)
    throw new KkoError(
      'INVALID_INPUT',
      `reading artifact ${path}: the pattern matches the parts of ${bases.size} artifacts (${[...bases].join(', ')})`,
      { hint: 'match the parts of one artifact' },
    );
  return join(dir, [...bases][0] as string);
}

// The list beside the parts, when there is one.
async function loadPartsList(base: string): Promise<string[] | undefined> {
  const listPath = partsListName(base);
  const text = await readFile(listPath, 'utf8').catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? undefined : Promise.reject(readError(listPath, err)),
  );
  return text === undefined ? undefined : parsePartsList(text, base, listPath).map((r) => r.sha256);
}

// Every part from 000 to the last (the list's count when there is a list), none missing, none extra.
function checkComplete(base: string, present: Map<number, string>, sums: string[] | undefined): number {
  const last = Math.max(...present.keys());
  const count = sums ? sums.length : last + 1;
  const where = sums
    ? `${basename(partsListName(base))} lists ${count}`
    : `the parts run to ${basename(partName(base, last))}`;
  for (let i = 0; i < count; i++) {
    if (!present.has(i))
      throw new KkoError(
        'FILE_NOT_FOUND',
        `reading artifact ${base}: part ${partName(base, i)} is missing (${where})`,
        { hint: 'copy every part into one directory, under its own name' },
      );
  }
  if (last >= count) {
    throw new KkoError(
      'INVALID_INPUT',
      `reading artifact ${base}: ${partName(base, last)} is not in ${partsListName(base)} (${count} parts): left from another export?`,
      { hint: 'remove the parts the list does not name' },
    );
  }
  return count;
}

// Every part but the last has the split size (the largest), and none is empty: a short part is truncated.
function checkSizes(files: SourceFile[]): void {
  const full = Math.max(...files.map((f) => f.size));
  for (const [i, f] of files.entries()) {
    const last = i === files.length - 1;
    if (f.size === 0 || (!last && f.size !== full)) {
      throw new KkoError(
        'ARTIFACT_CORRUPT',
        `reading artifact: part ${f.path} is ${f.size} bytes, ${last ? 'empty' : `but the other parts are ${full} bytes`}: truncated?`,
        { hint: 'copy that part again from its medium (every part but the last has the --split-size)' },
      );
    }
  }
}

async function splitSource(base: string): Promise<ArtifactSource> {
  const present = await presentParts(base);
  const sums = await loadPartsList(base);
  const count = checkComplete(base, present, sums);
  const files: SourceFile[] = [];
  for (let i = 0; i < count; i++) {
    const path = present.get(i) as string;
    const info = await stat(path).catch((err: unknown) => Promise.reject(readError(path, err)));
    if (!info.isFile()) throw new KkoError('INVALID_INPUT', `reading artifact ${path}: not a regular file`);
    files.push({ path, size: info.size, ...(sums ? { sha256: sums[i] as string } : {}) });
  }
  checkSizes(files);
  return { files, size: files.reduce((n, f) => n + f.size, 0), ...(sums ? { partsList: partsListName(base) } : {}) };
}

// What `path` names: a file; the first part of a split artifact (ART.part-000); the base name ART when only its
// parts exist; or a quoted pattern (ART.part-*). Parts are read in number order; a gap, a missing part, a part
// the list does not name or a short part is refused here, before a byte is read.
export async function resolveArtifactSource(path: string): Promise<ArtifactSource> {
  const info = await statOrUndefined(path);
  if (!info) {
    if (/[*?]/.test(basename(path))) return splitSource(await baseOfGlob(path));
    if ((await presentParts(path)).size > 0) return splitSource(path);
    throw new KkoError('FILE_NOT_FOUND', `reading artifact ${path}: no such file`);
  }
  if (!info.isFile()) throw new KkoError('INVALID_INPUT', `reading artifact ${path}: not a regular file`);
  const part = parsePartName(basename(path));
  if (!part) return { files: [{ path, size: info.size }], size: info.size };
  const base = join(dirname(path), part.base);
  if (part.index !== 0)
    throw new KkoError('INVALID_INPUT', `reading artifact ${path}: not the first part`, {
      hint: `pass ${partName(base, 0)} (the parts are read in order from it) or '${base}.part-*'`,
    });
  return splitSource(base);
}
