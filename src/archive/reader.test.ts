import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { parseChecksums } from './checksums.js';
import { loadZstdCompress } from './compress.js';
import { decompress, readArchive, type ArchiveEntry, type ReadOptions } from './reader.js';
import type { TarEntry } from './tar.js';
import { writeArchive } from './write.js';
import { gnuLong, pax, raw, rawHeader, rawTar as tarOf } from '../../test/support/raw-tar.js';

type Got = { name: string; type: string; size: number; text: string };

async function readAll(buf: Buffer, opts: ReadOptions = {}): Promise<Got[]> {
  const out: Got[] = [];
  for await (const e of readArchive(Readable.from([buf]), opts)) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c as Buffer);
    out.push({ name: e.name, type: e.type, size: e.size, text: Buffer.concat(chunks).toString() });
  }
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof KkoError ? `${err.code}: ${err.message}` : `other: ${String(err)}`;
  }
  return 'ok';
}

// What the project's own writer makes (plain tar), through its public entry point.
async function ourTar(entries: TarEntry[]): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'kko-reader-'));
  try {
    await writeArchive(entries, join(dir, 'a.tar'), 'none', {});
    return await readFile(join(dir, 'a.tar'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('readArchive: well-formed input', () => {
  it('reads what our writer writes, including prefix and PAX long names, gzip or plain', async () => {
    const long = `images/${'d'.repeat(120)}/${'f'.repeat(90)}`;
    const longer = `x/${'y'.repeat(300)}`;
    const tar = await ourTar([
      { name: 'kko/inventory.json', data: Buffer.from('{}'), first: true },
      { name: long, data: Buffer.from('prefix') },
      { name: longer, data: Buffer.from('pax') },
      { name: 'a/big', data: Buffer.alloc(70_000, 7) },
    ]);
    for (const input of [tar, gzipSync(tar)]) {
      const got = await readAll(input);
      expect(got.map((g) => [g.name, g.size])).toEqual([
        ['kko/inventory.json', 2],
        ['a/big', 70_000],
        [long, 6],
        [longer, 3],
      ]);
      expect(got[2]?.text).toBe('prefix');
      expect(got[3]?.text).toBe('pax');
    }
    expect((await decompress(Readable.from([gzipSync(tar)]))).compression).toBe('gzip');
    expect((await decompress(Readable.from([tar]))).compression).toBe('none');
  });

  it('accepts GNU long names, ./ prefixes and directory entries (what `tar czf -C dir .` makes)', async () => {
    const name = `images/blobs/sha256/${'a'.repeat(150)}`;
    const tar = tarOf(
      raw('./', '', { type: '5', gnu: true }),
      raw('././LongLink', `${name}\0`, { type: 'L', gnu: true }),
      raw(name.slice(0, 99), 'L!', { gnu: true }),
      raw('./kube/', '', { type: '5' }),
      raw('./kube/x', 'x'),
    );
    expect((await readAll(tar)).map((g) => [g.name, g.type])).toEqual([
      [name, 'file'],
      ['kube', 'directory'],
      ['kube/x', 'file'],
    ]);
  });

  it('skips bodies the consumer does not read, and refuses a body read after moving on', async () => {
    const tar = tarOf(raw('a', 'A'.repeat(1000)), raw('b', 'B'.repeat(10)));
    const bodies: ArchiveEntry[] = [];
    const names: string[] = [];
    for await (const e of readArchive(Readable.from([tar]))) {
      names.push(e.name);
      bodies.push(e);
    }
    expect(names).toEqual(['a', 'b']);
    expect(
      await codeOf(
        (async () => {
          for await (const _c of bodies[0]!.body);
        })(),
      ),
    ).toMatch(/^INTERNAL/);
  });

  it('allows links that stay inside only when asked to', async () => {
    const tar = tarOf(
      raw('d/f', 'x'),
      raw('d/s', '', { type: '2', linkname: '../d/f' }),
      raw('d/h', '', { type: '1', linkname: 'd/f' }),
    );
    expect((await readAll(tar, { links: 'inside' })).map((g) => g.type)).toEqual(['file', 'symlink', 'hardlink']);
    expect(await codeOf(readAll(tar))).toMatch(/^UNSAFE_ARCHIVE: .*symlink "d\/s"/);
    const escaping = [
      tarOf(raw('d/s', '', { type: '2', linkname: '../../etc' })),
      tarOf(raw('d/s', '', { type: '2', linkname: '/etc' })),
      tarOf(raw('d/h', '', { type: '1', linkname: 'nope' })),
    ];
    for (const t of escaping)
      expect(await codeOf(readAll(t, { links: 'inside' }))).toMatch(
        /^UNSAFE_ARCHIVE: .*(escapes|absolute|not an earlier file)/,
      );
  });
});

describe('readArchive: hostile input is refused naming the entry', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['../ traversal', tarOf(raw('../etc/passwd', 'root')), /"\.\.\/etc\/passwd"/],
    ['inner .. segment', tarOf(raw('images/../../x', 'x')), /"images\/\.\.\/\.\.\/x"/],
    ['absolute path', tarOf(raw('/abs', 'x')), /"\/abs"/],
    ['empty name', tarOf(raw('', 'x')), /empty/],
    ['symlink', tarOf(raw('images/evil', '', { type: '2', linkname: '/etc' })), /symlink "images\/evil"/],
    ['hardlink', tarOf(raw('a', 'x'), raw('b', '', { type: '1', linkname: 'a' })), /hardlink "b"/],
    ['character device', tarOf(raw('dev/null', '', { type: '3' })), /character device "dev\/null"/],
    ['block device', tarOf(raw('dev/sda', '', { type: '4' })), /block device "dev\/sda"/],
    ['FIFO', tarOf(raw('fifo', '', { type: '6' })), /FIFO "fifo"/],
    [
      'duplicate entry',
      tarOf(raw('kube/v1/amd64/kubeadm', 'a'), raw('kube/v1/amd64/kubeadm', 'b')),
      /duplicate entry "kube\/v1\/amd64\/kubeadm"/,
    ],
    [
      'file under a file',
      tarOf(raw('kube', 'x'), raw('kube/v1', 'y')),
      /"kube\/v1" \(header at tar byte 1024\): its parent "kube" is a file/,
    ],
    ['file over a directory', tarOf(raw('kube/v1', 'y'), raw('kube', 'x')), /shadows a directory "kube"/],
    [
      'bad header checksum',
      tarOf(raw('images/index.json', '{}', { badSum: true })),
      /checksum mismatch at entry "images\/index.json"/,
    ],
    ['PAX path with ..', tarOf(pax({ path: 'ok/../../x' }), raw('ok', 'x')), /"ok\/\.\.\/\.\.\/x"/],
    [
      'GNU long name absolute',
      tarOf(raw('././LongLink', '/etc/cron.d/x\0', { type: 'L', gnu: true }), raw('x', 'x', { gnu: true })),
      /"\/etc\/cron.d\/x"/,
    ],
    [
      'oversized index.json',
      tarOf(rawHeader('images/index.json', { size: 17 * 1024 * 1024 })),
      /"images\/index.json" \(header at tar byte 0\): 17825792 bytes is over/,
    ],
    [
      'oversized kko/inventory.json via PAX size',
      tarOf(pax({ size: String(20 * 1024 * 1024) }), rawHeader('kko/inventory.json')),
      /"kko\/inventory.json"/,
    ],
    ['truncated body', raw('a', 'x'.repeat(2000)).subarray(0, 1024), /truncated archive: entry "a"/],
    ['no end-of-archive marker', raw('a', 'x'), /no end-of-archive marker/],
    ['unknown entry type', tarOf(raw('s', '', { type: 'V' })), /entry type "V" "s"/],
  ];
  it.each(cases)('%s', async (_what, tar, message) => {
    const got = await codeOf(readAll(tar));
    expect(got).toMatch(/^UNSAFE_ARCHIVE: /);
    expect(got).toMatch(message);
  });

  it('refuses a truncated gzip stream, even when the tar inside looks complete', async () => {
    const gz = gzipSync(tarOf(raw('a', 'x'.repeat(5000)), raw('b', 'y')));
    for (const cut of [gz.length - 4, Math.floor(gz.length / 2), 12]) {
      expect(await codeOf(readAll(gz.subarray(0, cut)))).toMatch(
        /^UNSAFE_ARCHIVE: .*(corrupt or truncated|truncated archive)/,
      );
    }
  });

  it('refuses a corrupt gzip stream (bad CRC)', async () => {
    const gz = Buffer.from(gzipSync(tarOf(raw('a', 'hello'))));
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff;
    expect(await codeOf(readAll(gz))).toMatch(/^UNSAFE_ARCHIVE: .*corrupt or truncated/);
  });

  it('reads zstd (through archive/compress.ts) and refuses a truncated zstd stream', async () => {
    const tar = tarOf(raw('kube/v1/amd64/kubeadm', 'k'.repeat(3000)));
    const zst = Buffer.from((await loadZstdCompress())(tar, 3));
    expect((await readAll(zst)).map((g) => [g.name, g.size])).toEqual([['kube/v1/amd64/kubeadm', 3000]]);
    expect(await codeOf(readAll(zst.subarray(0, zst.length - 3)))).toMatch(/^UNSAFE_ARCHIVE: /);
  });

  it('names bzip2/xz as unsupported instead of failing on a header', async () => {
    expect(await codeOf(readAll(Buffer.from('BZh91AY&SY-junk')))).toMatch(/^INVALID_INPUT: .*bzip2\/xz/);
  });
});

// Names and PAX values are the archive's: in a message they are quoted, cut and escaped (quoteName / quoteValue),
// however long or hostile, and the message still says which entry and which field.
describe('readArchive: hostile values in the refusal message', () => {
  const MB = 'n'.repeat(1024 * 1024 - 64);
  const CTRL = 'evil\u001b]0;pwned\u0007\r\nok: fine\u009b';
  const bounded = (got: string, limit = 1000): void => {
    expect(got.length).toBeLessThan(limit);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(got).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  };
  const cases: Array<[string, Buffer, RegExp]> = [
    [
      '1 MB PAX path',
      tarOf(pax({ path: `../${MB}` }), raw('x', 'x')),
      /refusing entry "\.\.\/n+"… \(1048515 characters\) \(header at tar byte \d+\): name over 4096 bytes/,
    ],
    [
      'control characters in a PAX path',
      tarOf(pax({ path: `/${CTRL}` }), raw('x', 'x')),
      /refusing entry "\/evil\\u001b\]0;pwned\\u0007\\r\\nok: fine\\u009b"/,
    ],
    [
      '1 MB symlink target',
      tarOf(pax({ linkpath: MB }), raw('s', '', { type: '2' })),
      /refusing symlink "s" .* -> "n+"… \(1048512 characters\)/,
    ],
    [
      'control characters in a link target',
      tarOf(pax({ linkpath: CTRL }), raw('s', '', { type: '2' })),
      /-> "evil\\u001b\]0;pwned\\u0007\\r\\nok: fine\\u009b"/,
    ],
    [
      '1 MB PAX key',
      tarOf(pax({ [`GNU.sparse.${MB}`]: '1' }), raw('x', 'x')),
      /PAX extended header at tar byte 0: refusing "GNU\.sparse\.n+"… \(1048523 characters\)/,
    ],
    [
      'control characters in a PAX key',
      tarOf(pax({ [`GNU.sparse.${CTRL}`]: '1' }), raw('x', 'x')),
      /refusing "GNU\.sparse\.evil\\u001b/,
    ],
    ['1 MB PAX mtime', tarOf(pax({ mtime: `1${MB}` }), raw('x', 'x')), /malformed mtime "1n+"… \(1048513 characters\)/],
    ['control characters in a PAX uid', tarOf(pax({ uid: CTRL }), raw('x', 'x')), /malformed uid "evil\\u001b/],
    [
      '1 MB GNU long name and a PAX path',
      tarOf(gnuLong(MB), pax({ path: CTRL }), raw('x', 'x')),
      /entry "n+"… \(1048512 characters\) \(header at tar byte \d+\) has both a GNU long name and a PAX path "evil\\u001b/,
    ],
    [
      'control characters in an entry name (a truncated entry: refused at its header)',
      raw(CTRL, 'x'.repeat(2000)).subarray(0, 1024),
      /refusing entry "evil\\u001b\]0;pwned\\u0007\\r\\nok: fine\\u009b" \(header at tar byte 0\): a control character in its name/,
    ],
    [
      'a newline in a PAX path (would forge a line of a listing)',
      tarOf(pax({ path: 'images/a\nkko/SHA256SUMS' }), raw('x', 'x')),
      /refusing entry "images\/a\\nkko\/SHA256SUMS" .*: a control character in its name/,
    ],
  ];
  it.each(cases)('%s', async (_what, tar, message) => {
    const got = await codeOf(readAll(tar));
    expect(got).toMatch(/^UNSAFE_ARCHIVE: reading archive: /);
    expect(got).toMatch(message);
    bounded(got);
  });
});

describe('parseChecksums: a hostile SHA256SUMS line', () => {
  it.each([
    ['1 MB path', 'p'.repeat(1024 * 1024), /kko\/SHA256SUMS line 2: "p+"… \(1048576 characters\) is listed twice/],
    [
      'control characters',
      'a\u001b[2J\u0007b\u009b',
      /kko\/SHA256SUMS line 2: "a\\u001b\[2J\\u0007b\\u009b" is listed twice/,
    ],
  ])('%s listed twice', (_what, path, message) => {
    const line = `${'0'.repeat(64)}  ${path}`;
    let got = '';
    try {
      parseChecksums(`${line}\n${line}\n`);
    } catch (err) {
      got = err instanceof KkoError ? `${err.code}: ${err.message}` : String(err);
    }
    expect(got).toMatch(/^UNSAFE_ARCHIVE: /);
    expect(got).toMatch(message);
    expect(got.length).toBeLessThan(500);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(got).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
