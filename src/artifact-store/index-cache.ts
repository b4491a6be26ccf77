import { createHash } from 'node:crypto';
import { open, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArchiveCompression } from '../archive/reader.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { FileIdentity } from './source-files.js';

// The verified-index cache (docs/artifact-store.md "The index cache"): what an open learnt about an artifact — every
// file's size, where each blob's bytes sit (spans), which blobs hashed to their names — kept under the kko cache dir,
// keyed by the artifact's identity (realpath, device, inode, size, mtime and ctime in ns, of every part) and the
// format version. A later open of the same unchanged file reads only its metadata and takes the spans from here.
// Nothing here is trusted as content: every byte an open uses is hashed again (metadata on load, blobs on read).

export const INDEX_FORMAT = 'kko-artifact-index/1';
const SUBDIR = 'artifact-index';
const MAX_ENTRIES = 32; // artifacts remembered; the least recently used go first
export const MAX_INLINE = 16 * 1024 * 1024; // metadata bytes an index may carry (deflated metadata has no spans)
// An index file larger than this is not read (MAX_INLINE of base64 and some 150 bytes a file record, with room).
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
// A file an index hit loads whole (a document, a manifest, a small blob) may be at most this big: a record saying
// more is not one kko wrote, and believing it would read that much into memory.
export const MAX_LOAD = 16 * 1024 * 1024;

// One regular file of the artifact, in archive order.
export type IndexedFile = {
  readonly name: string;
  readonly size: number;
  spans?: number[]; // where its bytes sit: Spans triples [blobOffset, fileOffset, length]
  readonly bytes?: string; // base64: a file the open needs whole that has no spans (metadata a .tar.gz deflated)
  readonly load?: true; // the open reads it whole: a document, a manifest, a small blob kept in memory
  verified?: true; // a blob whose bytes hashed to its name (in a full pass, or a whole read since)
};

export type ArtifactIndex = {
  readonly format: string;
  readonly key: readonly FileIdentity[];
  readonly compression: ArchiveCompression;
  readonly archiveBytes: number;
  readonly files: readonly IndexedFile[];
};

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function indexPath(dir: string, key: readonly FileIdentity[]): string {
  return join(dir, SUBDIR, `${sha256(`${INDEX_FORMAT}\0${JSON.stringify(key)}`)}.json`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

// A file record as stored: spans inside the archive whose lengths add up to the file's size, a loaded file within
// MAX_LOAD; false for anything else.
function validFile(f: unknown, archiveBytes: number): boolean {
  const r = f as Partial<Record<keyof IndexedFile, unknown>>;
  if (typeof r?.name !== 'string' || !isNum(r.size)) return false;
  if (r.load !== undefined && (r.load !== true || (r.size as number) > MAX_LOAD)) return false;
  if (r.bytes !== undefined && typeof r.bytes !== 'string') return false;
  if (r.spans === undefined) return true;
  const s = r.spans as unknown[];
  if (!Array.isArray(s) || s.length % 3 !== 0 || !s.every(isNum)) return false;
  let covered = 0;
  for (let i = 0; i < s.length; i += 3) {
    if ((s[i] as number) !== covered || (s[i + 1] as number) + (s[i + 2] as number) > archiveBytes) return false;
    covered += s[i + 2] as number;
  }
  return covered === r.size;
}

// The file's bytes when it is a regular file of at most MAX_INDEX_BYTES (read through one handle), else undefined.
async function readBounded(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const s = await fh.stat();
    if (!s.isFile() || s.size > MAX_INDEX_BYTES) return undefined;
    return await fh.readFile();
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

// The index of the artifact with exactly this identity, or undefined when there is none, or it is unreadable,
// damaged (its checksum line), of another format or for another identity. A hit marks it recently used.
export async function loadIndex(dir: string, key: readonly FileIdentity[]): Promise<ArtifactIndex | undefined> {
  const path = indexPath(dir, key);
  const raw = await readBounded(path);
  if (!raw) return undefined;
  const nl = raw.indexOf(0x0a);
  const head = nl < 0 ? '' : raw.subarray(0, nl).toString('latin1');
  const body = raw.subarray(nl + 1);
  if (nl < 0 || head !== `${INDEX_FORMAT} ${sha256(body)}`) return undefined;
  let doc: ArtifactIndex;
  try {
    doc = JSON.parse(body.toString('utf8')) as ArtifactIndex;
  } catch {
    return undefined;
  }
  if (doc?.format !== INDEX_FORMAT || JSON.stringify(doc.key) !== JSON.stringify(key)) return undefined;
  // the archive's size is the key's (the parts joined), so no span reaches past the file the key names
  if (doc.archiveBytes !== key.reduce((n, k) => n + k.size, 0) || !Array.isArray(doc.files)) return undefined;
  if (!doc.files.every((f) => validFile(f, doc.archiveBytes))) return undefined;
  const now = new Date();
  await utimes(path, now, now).catch(() => undefined);
  return doc;
}

// Write the index (temp name + rename), then forget the least recently used beyond MAX_ENTRIES. Failures are
// swallowed: the cache only saves work, and an open that could not write it still succeeded.
export async function storeIndex(dir: string, index: ArtifactIndex): Promise<boolean> {
  const body = Buffer.from(JSON.stringify(index));
  try {
    await writeFileAtomic(
      indexPath(dir, index.key),
      Buffer.concat([Buffer.from(`${INDEX_FORMAT} ${sha256(body)}\n`), body]),
    );
    await evict(join(dir, SUBDIR));
    return true;
  } catch {
    return false;
  }
}

async function evict(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_ENTRIES) return;
  const aged = await Promise.all(
    names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  aged.sort((a, b) => b.t - a.t);
  for (const { n } of aged.slice(MAX_ENTRIES)) await rm(join(dir, n), { force: true });
}
