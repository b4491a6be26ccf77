import { KkoError } from '../errors.js';
import { quoteValue } from '../util/safe-text.js';

// Parsing of one tar header block and of PAX / GNU extended records, held to what Go's archive/tar (kk's unpack)
// reads: every field Go parses must parse here too, and a field Go reads differently from GNU tar or Python's
// tarfile is refused. See docs/artifact-read.md ("Same bytes as kk's unpack").

export const BLOCK = 512;
export type Header = {
  name: string;
  size: number;
  mode: number;
  mtime: number;
  flag: string;
  linkname: string;
  offset: number;
};
export type Extended = { path?: string; linkpath?: string; size?: number };

const HINT = 'kko writes none of these forms; re-create the artifact with `kko artifact export` or a plain `tar czf`';

export function unsafe(message: string): KkoError {
  return new KkoError('UNSAFE_ARCHIVE', `reading archive: ${message}`, { hint: HINT });
}

// An entry name (or link target) from the archive in a message: quoted, control characters escaped, and cut
// well past any name a kk artifact holds, so a megabyte PAX path cannot make the message a megabyte.
export function quoteName(name: string): string {
  return quoteValue(name, 256);
}

// "at byte N" of the (decompressed) tar stream, for every refusal that has a header.
export function where(name: string, offset: number): string {
  return `${quoteName(name)} (header at tar byte ${offset})`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

// Bytes to a string; names must be valid UTF-8 so that the string and the bytes kk sees are one and the same.
export function utf8(bytes: Uint8Array, what: string, offset: number): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw unsafe(`${what} at tar byte ${offset} is not valid UTF-8`);
  }
}

// A NUL-terminated field (Go's parseString).
function cstring(block: Buffer, start: number, len: number, offset: number): string {
  const field = block.subarray(start, start + len);
  const nul = field.indexOf(0);
  return utf8(field.subarray(0, nul === -1 ? len : nul), 'name', offset);
}

// Octal (NUL/space padded) or base-256 with first byte 0x80 (the only form GNU tar and Go agree on; kko never
// writes it). Go trims NULs and spaces at both ends and ignores anything after an inner NUL; we refuse both.
function numeric(block: Buffer, start: number, len: number, what: string, offset: number): number {
  const field = block.subarray(start, start + len);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first !== 0x80)
      throw unsafe(`base-256 ${what} field with first byte 0x${first.toString(16)} in header at tar byte ${offset}`);
    let v = 0;
    for (const b of field.subarray(1)) v = v * 256 + b;
    if (!Number.isSafeInteger(v)) throw unsafe(`${what} too large in header at tar byte ${offset}`);
    return v;
  }
  return octal(field, what, offset);
}

function octal(field: Buffer, what: string, offset: number): number {
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw unsafe(`malformed ${what} field ${quoteValue(text)} in header at tar byte ${offset}`);
  return parseInt(text, 8);
}

function checksumOk(block: Buffer, offset: number): boolean {
  let unsigned = 0;
  let signed = 0;
  block.forEach((b, i) => {
    const v = i >= 148 && i < 156 ? 0x20 : b;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  });
  const stored = octal(block.subarray(148, 156), 'checksum', offset); // Go reads the checksum as octal only
  return stored === unsigned || stored === signed;
}

type Format = 'ustar' | 'gnu' | 'v7';

// Go's getFormat: "ustar\0" is USTAR/PAX (prefix used), "ustar  \0" GNU (no prefix), anything else V7.
function formatOf(block: Buffer, offset: number): Format {
  const magic = block.subarray(257, 263).toString('latin1');
  if (magic === 'ustar\0') {
    // star (trailer "tar\0"): Go reads a 131-byte prefix and two more times, GNU tar a 155-byte prefix.
    if (block.subarray(508, 512).toString('latin1') === 'tar\0')
      throw unsafe(`refusing star-format header at tar byte ${offset}`);
    return 'ustar';
  }
  if (magic === 'ustar ' && block.subarray(263, 265).toString('latin1') === ' \0') return 'gnu';
  return 'v7';
}

// Parse one 512-byte header; the checksum (unsigned, or the historical signed sum) must match. Every numeric field
// Go parses is checked, since a field Go cannot parse makes kk's unpack fail where we would have said "ok".
export function parseHeader(block: Buffer, offset: number): Header {
  if (!checksumOk(block, offset))
    throw unsafe(`header checksum mismatch at entry ${where(cstringLoose(block), offset)}`);
  const format = formatOf(block, offset);
  const raw = cstring(block, 0, 100, offset);
  // Python's tarfile prepends bytes 345.. to the name whatever the magic; Go and GNU tar only for ustar.
  if (format !== 'ustar' && block[345] !== 0)
    throw unsafe(
      `${format === 'gnu' ? 'GNU' : 'V7'} header at tar byte ${offset} has data in the ustar prefix field (Python's tarfile prepends it to the name, Go and GNU tar do not)`,
    );
  const prefix = format === 'ustar' ? cstring(block, 345, 155, offset) : '';
  const name = prefix ? `${prefix}/${raw}` : raw;
  for (const [start, len, what] of [
    [108, 8, 'uid'],
    [116, 8, 'gid'],
  ] as const)
    numeric(block, start, len, what, offset);
  const mtime = numeric(block, 136, 12, 'mtime', offset);
  if (format !== 'v7') for (const start of [329, 337]) numeric(block, start, 8, 'device number', offset);
  if (format === 'gnu') checkGnuTimes(block, offset);
  const flag = String.fromCharCode(block[156] ?? 0);
  const mode = numeric(block, 100, 8, 'mode', offset) & 0o7777;
  return {
    name,
    size: numeric(block, 124, 12, 'size', offset),
    mode,
    mtime,
    flag,
    linkname: cstring(block, 157, 100, offset),
    offset,
  };
}

// GNU atime/ctime: when Go cannot parse them it takes bytes 345.. as a USTAR prefix (pre-Go 1.8 files), GNU tar does not.
function checkGnuTimes(block: Buffer, offset: number): void {
  for (const start of [345, 357]) {
    if (block[start] === 0) continue;
    try {
      numeric(block, start, 12, 'GNU time', offset);
    } catch {
      throw unsafe(`GNU header at tar byte ${offset} has unreadable atime/ctime (Go would read a name prefix there)`);
    }
  }
}

// The name for a message about a header we could not parse: lossy is fine there.
function cstringLoose(block: Buffer): string {
  const nul = block.indexOf(0);
  return block.subarray(0, nul === -1 || nul > 100 ? 100 : nul).toString('utf8');
}

// Keys whose value changes which bytes land where; everything else is metadata kk ignores, but Go still parses
// uid/gid/times and fails on a bad value.
const INT = /^-?\d{1,18}$/;
const TIME = /^-?\d{1,18}(\.\d+)?$/;
const CHECKED: Readonly<Record<string, RegExp>> = {
  uid: INT,
  gid: INT,
  mtime: TIME,
  atime: TIME,
  ctime: TIME,
  size: /^\d{1,16}$/,
};

const NO_NUL: ReadonlySet<string> = new Set(['path', 'linkpath', 'uname', 'gname']); // Go's validPAXRecord

// One "<len> <key>=<value>\n" record at `pos`: returns key, value bytes and the next position (Go's parsePAXRecord).
function paxRecord(data: Buffer, pos: number, offset: number): { key: string; value: Buffer; next: number } {
  const bad = (why: string): KkoError =>
    unsafe(`malformed PAX record in extended header at tar byte ${offset}: ${why}`);
  const space = data.indexOf(0x20, pos);
  const lenText = space === -1 ? '' : data.subarray(pos, space).toString('latin1');
  if (!/^\d{1,7}$/.test(lenText)) throw bad('bad length');
  const len = Number(lenText);
  if (len < 5 || pos + len > data.length || space + 1 >= pos + len || data[pos + len - 1] !== 0x0a)
    throw bad('bad length');
  const record = data.subarray(space + 1, pos + len - 1);
  const eq = record.indexOf(0x3d);
  if (eq <= 0) throw bad('empty key or no "="');
  const key = utf8(record.subarray(0, eq), 'PAX key', offset);
  const value = record.subarray(eq + 1);
  if (key.includes('\0') || (NO_NUL.has(key) && value.includes(0))) throw bad(`NUL in ${quoteValue(key)}`);
  return { key, value, next: pos + len };
}

// PAX records: path, linkpath and size are used; GNU sparse records (Go renames and resizes the entry from them),
// hdrcharset (GNU tar then stops converting names) and repeated keys (which one wins differs) are refused.
export function parsePax(data: Buffer, offset: number, global: boolean): Extended {
  const out: Extended = {};
  const keys = new Set<string>();
  for (let pos = 0; pos < data.length;) {
    const { key, value, next } = paxRecord(data, pos, offset);
    pos = next;
    const at = `PAX ${global ? 'global' : 'extended'} header at tar byte ${offset}`;
    if (keys.has(key)) throw unsafe(`${at} repeats ${quoteValue(key)}`);
    keys.add(key);
    if (key.startsWith('GNU.sparse.') || key === 'hdrcharset') throw unsafe(`${at}: refusing ${quoteValue(key)}`);
    if (global && (key === 'path' || key === 'linkpath' || key === 'size'))
      throw unsafe(`${at} sets ${quoteValue(key)} (GNU tar applies it to every later entry, Go and kk ignore it)`);
    const rule = CHECKED[key];
    if (!rule && key !== 'path' && key !== 'linkpath') continue; // other values may be binary (xattrs)
    const text = utf8(value, `PAX ${key}`, offset);
    if (rule && !(rule.test(text) && Number.isSafeInteger(Number(text.split('.')[0]))))
      throw unsafe(`${at}: malformed ${key} ${quoteValue(text)}`);
    if ((key === 'path' || key === 'linkpath') && text === '') throw unsafe(`${at}: empty ${key}`);
    if (key === 'path') out.path = text;
    if (key === 'linkpath') out.linkpath = text;
    if (key === 'size') out.size = Number(text);
  }
  return out;
}
