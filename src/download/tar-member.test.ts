import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipTarMember } from './tar-member.js';

type Entry = { name: string; data?: Buffer; type?: string; prefix?: string };

function header(e: Entry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(e.type ?? '0', 156);
  h.write('ustar\x0000', 257, 'latin1');
  if (e.prefix) h.write(e.prefix, 345, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

function tar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    parts.push(header(e, data.length), data, pad(data.length));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

function pax(path: string): Buffer {
  const body = ` path=${path}\n`;
  let len = body.length + 2;
  if (String(len).length + body.length !== len) len += 1;
  return Buffer.from(`${len}${body}`);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of source) out.push(c);
  return Buffer.concat(out);
}

// Chunks of 100 bytes, so headers and data straddle chunk boundaries.
const chunked = (b: Buffer): AsyncIterable<Buffer> =>
  Readable.from(Array.from({ length: Math.ceil(b.length / 100) }, (_, i) => b.subarray(i * 100, (i + 1) * 100)));

const bin = Buffer.from('#!helm binary\n'.repeat(100));
const long = `${'d'.repeat(120)}/linux-amd64/helm`;

// A tar or tar.gz stream of the given bytes (the reader detects the compression).
const tarMember = (source: AsyncIterable<Buffer>, wanted: string): Readable =>
  gzipTarMember(Readable.from(source), wanted);

describe('tarMember', () => {
  it.each([
    [
      'a plain ustar name after other members',
      [
        { name: 'linux-amd64/', type: '5' },
        { name: 'linux-amd64/LICENSE', data: Buffer.from('x') },
        { name: 'linux-amd64/helm', data: bin },
      ],
      'linux-amd64/helm',
    ],
    ['a "./" prefix', [{ name: './linux-amd64/helm', data: bin }], 'linux-amd64/helm'],
    ['the ustar prefix field', [{ name: 'helm', prefix: 'linux-amd64', data: bin }], 'linux-amd64/helm'],
    [
      'a PAX path record',
      [
        { name: 'PaxHeaders/x', type: 'x', data: pax(long) },
        { name: long.slice(0, 100), data: bin },
      ],
      long,
    ],
    [
      'a GNU long name',
      [
        { name: '././@LongLink', type: 'L', data: Buffer.from(`${long}\0`) },
        { name: long.slice(0, 100), data: bin },
      ],
      long,
    ],
  ] as Array<[string, Entry[], string]>)('finds the member by %s', async (_what, entries, wanted) => {
    expect((await collect(tarMember(chunked(tar(entries)), wanted))).equals(bin)).toBe(true);
  });

  it('refuses an archive with a link, and reports a missing or truncated member, as a failed download', async () => {
    await expect(
      collect(tarMember(chunked(tar([{ name: 'linux-amd64/helm', type: '2' }])), 'linux-amd64/helm')),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
    await expect(
      collect(tarMember(chunked(tar([{ name: 'README.md', data: bin }])), 'linux-amd64/helm')),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
    const cut = tar([{ name: 'linux-amd64/helm', data: bin }]).subarray(0, 700);
    await expect(collect(tarMember(chunked(cut), 'linux-amd64/helm'))).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
    });
    await expect(collect(tarMember(chunked(Buffer.alloc(512, 7)), 'x'))).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
    });
  });

  it('gzipTarMember streams from an offset of the member, and calls a non-gzip file a failed download', async () => {
    const tgz = gzipSync(tar([{ name: 'linux-arm64/helm', data: bin }]));
    expect(
      (await collect(gzipTarMember(Readable.from([tgz]), 'linux-arm64/helm', 1000))).equals(bin.subarray(1000)),
    ).toBe(true);
    await expect(
      collect(gzipTarMember(Readable.from([Buffer.from('<html>not found</html>')]), 'linux-arm64/helm')),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
  });
});
