import { KkoError } from '../errors.js';
import { assertSafeName } from './tar.js';
import { hasControl, quoteValue } from '../util/safe-text.js';
import { quoteName, unsafe, where, type Header } from './tar-header.js';

// Which entries the reader lets through, and as what. kk's unpack (Go archive/tar, cmd/kk/pkg/core/util/file.go)
// creates TypeDir and TypeReg entries only and skips everything else, so an entry that Go, GNU tar and Python read
// as something else than we would is refused rather than guessed at.

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink';
// links: kk artifacts hold regular files only, so links are refused unless a caller opts in to links inside the tree.
// maxEntries: headers (and implied parent directories) per archive; each costs a map entry until the end.
export type AdmitOptions = { links?: 'refuse' | 'inside'; maxMetadataBytes?: number; maxEntries?: number };

export const METADATA_MAX_BYTES = 16 * 1024 * 1024;
export const MAX_ENTRIES = 50_000; // a kk artifact has a few thousand; RSS of inspect/verify stays < 256 MB at the limit
const MAX_NAME_BYTES = 4096; // PATH_MAX: kk could not create a longer path anyway
const NAME_BUDGET = 32 * 1024 * 1024; // characters of names kept for the duplicate checks

// Small documents read whole (index.json, kko/*): a size beyond the cap is refused before a byte is read.
export function isMetadataName(name: string): boolean {
  return name === 'images/index.json' || name === 'images/oci-layout' || name.startsWith('kko/');
}

const TYPES: Readonly<Record<string, EntryType>> = {
  '0': 'file',
  '\0': 'file',
  '5': 'directory',
  '1': 'hardlink',
  '2': 'symlink',
};
const KINDS: Readonly<Record<string, string>> = {
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  '7': 'contiguous file (type 7: kk skips it, so it would not be unpacked)',
  S: 'GNU sparse file',
};

// The entry type as kk would see it. Go turns '\0' + trailing slash into TypeDir, but keeps '0' + trailing slash a
// TypeReg (kk then opens "x/" as a file; GNU tar makes a directory), so a slash on any other type is refused.
function typeOf(h: Header): EntryType {
  const type = TYPES[h.flag];
  if (!type) throw unsafe(`refusing ${KINDS[h.flag] ?? `entry type ${quoteValue(h.flag)}`} ${where(h.name, h.offset)}`);
  if (!h.name.endsWith('/')) return type;
  if (h.flag === '\0' || type === 'directory') return 'directory';
  throw unsafe(
    `refusing ${type} ${where(h.name, h.offset)}: a name ending in "/" is a directory to GNU tar but a ${type} to Go (kk)`,
  );
}

// Go and GNU tar read no body for directories and links whatever their size says: the "body" would be read as
// headers of hidden entries, so a non-zero size is refused.
function checkSize(h: Header, type: EntryType): void {
  if (type !== 'file' && h.size !== 0)
    throw unsafe(
      `refusing ${type} ${where(h.name, h.offset)} with size ${h.size}: Go and GNU tar read its "body" as further headers`,
    );
}

// "./a/b" → "a/b"; the root directory entry "./" → undefined (skipped). Everything else must pass the writer's rule.
function normaliseName(h: Header, type: EntryType): string | undefined {
  const raw = h.name;
  if (raw === '' || raw.includes('\0'))
    throw unsafe(`refusing entry with an empty or NUL-containing name ${where(raw, h.offset)}`);
  if (Buffer.byteLength(raw) > MAX_NAME_BYTES)
    throw unsafe(`refusing entry ${where(raw, h.offset)}: name over ${MAX_NAME_BYTES} bytes`);
  let name = type === 'directory' ? raw.replace(/\/+$/, '') : raw;
  while (name.startsWith('./')) name = name.slice(2);
  if (name === '' || name === '.') {
    if (type === 'directory') return undefined;
    throw unsafe(`refusing entry with an empty name ${where(raw, h.offset)}`);
  }
  try {
    assertSafeName(name);
  } catch {
    const why = hasControl(name) ? 'a control character in its name' : 'absolute path or "."/".."/empty segment';
    throw unsafe(`refusing entry ${where(raw, h.offset)}: ${why}`);
  }
  return name;
}

// Everything admitted so far (name → type), bounded in count and in name bytes.
export class Admission {
  readonly #seen = new Map<string, EntryType>();
  readonly #opts: AdmitOptions;
  #chars = 0;

  constructor(opts: AdmitOptions) {
    this.#opts = opts;
  }

  // Validate one header against everything refused: type, size, name, duplicates, links, metadata size, limits.
  admit(h: Header): { name: string; type: EntryType } | undefined {
    const type = typeOf(h);
    checkSize(h, type);
    const name = normaliseName(h, type);
    if (name === undefined) return undefined;
    const before = this.#seen.get(name);
    if (before && !(before === 'directory' && type === 'directory')) {
      throw unsafe(
        `refusing ${before === 'directory' ? 'entry that shadows a directory' : 'duplicate entry'} ${where(name, h.offset)}`,
      );
    }
    this.#claimParents(name, h.offset);
    if (type === 'symlink' || type === 'hardlink') this.#checkLink(h, name, type);
    const cap = this.#opts.maxMetadataBytes ?? METADATA_MAX_BYTES;
    if (isMetadataName(name) && h.size > cap)
      throw unsafe(`refusing ${where(name, h.offset)}: ${h.size} bytes is over the ${cap}-byte limit for metadata`);
    this.#set(name, type, h.offset);
    return { name, type };
  }

  #set(name: string, type: EntryType, offset: number): void {
    if (!this.#seen.has(name)) {
      const max = this.#opts.maxEntries ?? MAX_ENTRIES;
      this.#chars += name.length;
      if (this.#seen.size >= max || this.#chars > NAME_BUDGET) {
        throw new KkoError(
          'UNSAFE_ARCHIVE',
          `reading archive: refusing entry ${where(name, offset)}: more than ${max} entries (or ${NAME_BUDGET} bytes of names)`,
          {
            hint: 'a kk artifact holds a few thousand files; this archive is not one (library callers can raise ReadOptions.maxEntries)',
          },
        );
      }
    }
    this.#seen.set(name, type);
  }

  // Every parent of a name is a directory from now on; a parent that is already a file or link is refused.
  #claimParents(name: string, offset: number): void {
    for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
      const dir = name.slice(0, i);
      const t = this.#seen.get(dir);
      if (t && t !== 'directory')
        throw unsafe(`refusing entry ${where(name, offset)}: its parent ${quoteName(dir)} is a ${t}`);
      if (!t) this.#set(dir, 'directory', offset);
    }
  }

  // Links are refused by default; with links: 'inside', a target must resolve inside the tree (a hardlink: to an earlier file).
  #checkLink(h: Header, name: string, type: EntryType): void {
    const at = where(name, h.offset);
    if ((this.#opts.links ?? 'refuse') === 'refuse')
      throw unsafe(`refusing ${type} ${at} -> ${quoteName(h.linkname)}: artifacts hold regular files only`);
    if (h.linkname === '' || h.linkname.startsWith('/'))
      throw unsafe(`refusing ${type} ${at}: absolute or empty target ${quoteName(h.linkname)}`);
    const target = type === 'symlink' ? [...name.split('/').slice(0, -1), h.linkname].join('/') : h.linkname;
    const parts: string[] = [];
    for (const seg of target.split('/')) {
      if (seg === '..' && parts.length === 0)
        throw unsafe(`refusing ${type} ${at}: target ${quoteName(h.linkname)} escapes the archive`);
      if (seg === '..') parts.pop();
      else if (seg !== '.' && seg !== '') parts.push(seg);
    }
    if (type === 'hardlink' && this.#seen.get(parts.join('/')) !== 'file')
      throw unsafe(`refusing hardlink ${at}: target ${quoteName(h.linkname)} is not an earlier file`);
  }
}
