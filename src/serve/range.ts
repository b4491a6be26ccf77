// A single HTTP byte range (RFC 9110 14.1.2) of a blob of `size` bytes: [start, end). Undefined when there is no
// Range header (or one in another unit, which RFC 9110 says to ignore); throws for one that cannot be satisfied:
// several ranges (distribution clients never ask for them; serving multipart/byteranges is not worth its risk),
// a start at or past the end, or a malformed spec. An end past the blob is cut to it, as the RFC says.
export type ByteRange = { readonly start: number; readonly end: number };

export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const spec = (m[1] as string).trim();
  if (spec.includes(',')) throw new RangeError('multiple ranges');
  const r = /^(\d{0,16})-(\d{0,16})$/.exec(spec);
  if (!r || (r[1] === '' && r[2] === '')) throw new RangeError('malformed range');
  if (r[1] === '') {
    const n = Number(r[2]);
    if (n === 0 || size === 0) throw new RangeError('empty suffix range');
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(r[1]);
  const last = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  if (start >= size || last < start) throw new RangeError('range past the end');
  return { start, end: last + 1 };
}
