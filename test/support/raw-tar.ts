// Raw tar blocks written by hand, so tests can build what kko's writer never would (hostile and odd archives).
// Every header gets a correct checksum unless asked otherwise; `fields` overwrite raw bytes before the checksum.

export type RawOpts = {
  size?: number;
  type?: string;
  linkname?: string;
  prefix?: string;
  gnu?: boolean; // GNU magic "ustar  \0" instead of POSIX "ustar\0" "00"
  badSum?: boolean;
  mode?: number;
  name?: Buffer; // raw name bytes (e.g. invalid UTF-8) instead of `name`
  fields?: ReadonlyArray<[offset: number, bytes: Buffer]>;
};

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

// One 512-byte header.
export function rawHeader(name: string, o: RawOpts = {}): Buffer {
  const h = Buffer.alloc(512);
  if (o.name) o.name.copy(h, 0, 0, 100);
  else h.write(name, 0, 100, 'utf8');
  h.write(octal(o.mode ?? 0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(o.size ?? 0, 12), 124, 'latin1');
  h.write(octal(0, 12), 136, 'latin1');
  h.write(' '.repeat(8), 148, 'latin1');
  h.write(o.type ?? '0', 156, 'latin1');
  h.write(o.linkname ?? '', 157, 100, 'utf8');
  h.write(o.gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  if (o.prefix) h.write(o.prefix, 345, 155, 'utf8');
  for (const [at, bytes] of o.fields ?? []) bytes.copy(h, at);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${(sum + (o.badSum ? 1 : 0)).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

export function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

// A header and its body, padded to the block size; the size field is the body's length unless `o.size` says otherwise.
export function raw(name: string, data: Buffer | string = '', o: RawOpts = {}): Buffer {
  const body = Buffer.from(data);
  return Buffer.concat([rawHeader(name, { size: body.length, ...o }), body, pad(body.length)]);
}

// One PAX record "<len> <key>=<value>\n".
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

// A PAX extended ('x') or global ('g') header with its records.
export function pax(records: Record<string, string>, type: 'x' | 'g' = 'x'): Buffer {
  return paxRaw(Buffer.concat(Object.entries(records).map(([k, v]) => paxRecord(k, v))), type);
}

export function paxRaw(body: Buffer, type: 'x' | 'g' = 'x'): Buffer {
  return raw(type === 'g' ? 'GlobalHead' : 'PaxHeaders/x', body, { type });
}

// A GNU long name ('L') or long link ('K') header.
export function gnuLong(value: string, type: 'L' | 'K' = 'L'): Buffer {
  return raw('././@LongLink', `${value}\0`, { type, gnu: true });
}

// Parts followed by the end-of-archive marker (two zero blocks).
export function rawTar(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}
