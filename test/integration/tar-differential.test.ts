import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeArchive } from '../../src/archive/write.js';
import { gnuLong, pax, paxRaw, paxRecord, raw, rawTar } from '../support/raw-tar.js';
import { buildGoReferee, goList, kkoList, pythonList, type Listing } from '../support/tar-referees.js';
import { tempDir } from '../cli/run-cli.js';

// kko must read exactly what kk's unpack (Go archive/tar) reads — or refuse. Every fixture goes through kko's
// reader, the Go referee and Python's tarfile; where kko lists entries, all three lists must be equal.

const hidden = raw('kube/v1/amd64/kubeadm', 'hidden kubeadm');
const b256 = (n: number): Buffer =>
  Buffer.concat([Buffer.from([0x80]), Buffer.alloc(7), Buffer.from([0, 0, (n >> 8) & 0xff, n & 0xff])]);

// Hostile fixtures: each is read differently by kko before #7 and by Go (or GNU tar / Python); kko now refuses.
const hostile: Array<[string, Buffer, RegExp]> = [
  [
    'directory with a size hides an entry',
    rawTar(raw('kube/', hidden, { type: '5' })),
    /directory "kube\/" \(header at tar byte 0\) with size 1024/,
  ],
  [
    'directory hides a rewritten index.json',
    rawTar(raw('images/', raw('images/index.json', '{"manifests":[]}'), { type: '5' }), raw('images/oci-layout', '{}')),
    /directory "images\/"/,
  ],
  [
    'V7 directory (type NUL, trailing slash) with a size',
    rawTar(raw('kube/', hidden, { type: '\0' })),
    /directory "kube\/"/,
  ],
  [
    'PAX size on a directory',
    rawTar(pax({ size: '1024' }), raw('kube/', '', { type: '5' }), hidden),
    /directory "kube\/" \(header at tar byte 1024\) with size 1024/,
  ],
  [
    'GNU long name then PAX path',
    rawTar(gnuLong('kube/v1/amd64/kubeadm'), pax({ path: 'kube/v1/amd64/kubelet' }), raw('x', 'data')),
    /both a GNU long name and a PAX path/,
  ],
  [
    'PAX path then GNU long name',
    rawTar(pax({ path: 'kube/v1/amd64/kubelet' }), gnuLong('kube/v1/amd64/kubeadm'), raw('x', 'data')),
    /both a GNU long name and a PAX path/,
  ],
  [
    'two PAX headers in a row',
    rawTar(pax({ path: 'kube/evil' }), pax({ mtime: '1' }), raw('kube/good', 'data')),
    /second 'x' extended header at tar byte 1024 follows the extended header at tar byte 0/,
  ],
  ['two GNU long names in a row', rawTar(gnuLong('kube/a'), gnuLong('kube/b'), raw('x', 'data')), /second 'L'/],
  [
    'two GNU long links in a row',
    rawTar(gnuLong('a', 'K'), gnuLong('b', 'K'), raw('x', '', { type: '2', linkname: 'c' })),
    /second 'K'/,
  ],
  [
    'regular file named with a trailing slash, with data',
    rawTar(raw('kube/kubelet/', 'ELF')),
    /file "kube\/kubelet\/" \(header at tar byte 0\): a name ending in "\/"/,
  ],
  ['regular file named with a trailing slash, empty', rawTar(raw('kube/x/', '')), /file "kube\/x\/"/],
  [
    'contiguous file (type 7)',
    rawTar(raw('kube/kubeadm', 'data', { type: '7' })),
    /contiguous file .* "kube\/kubeadm"/,
  ],
  [
    'global header setting path',
    rawTar(pax({ path: 'kube/evil' }, 'g'), raw('kube/good', 'data')),
    /global header at tar byte 0 sets "path"/,
  ],
  [
    'PAX header, then a global header, then the entry',
    rawTar(pax({ path: 'kube/evil' }), pax({ comment: 'c' }, 'g'), raw('kube/good', 'data')),
    /global header at tar byte 1024 follows/,
  ],
  [
    'a lone zero block followed by a header',
    Buffer.concat([raw('a', 'x'), Buffer.alloc(512), hidden, Buffer.alloc(1024)]),
    /zero block at tar byte 1024 is followed by a header/,
  ],
  [
    'GNU header whose atime Go reads as a name prefix',
    rawTar(raw('x', 'data', { gnu: true, fields: [[345, Buffer.from('evil')]] })),
    /GNU header at tar byte 0 has data in the ustar prefix field/,
  ],
  [
    'GNU header whose ctime Go cannot parse',
    rawTar(raw('x', 'data', { gnu: true, fields: [[357, Buffer.from('evil')]] })),
    /unreadable atime\/ctime/,
  ],
  [
    'PAX record length in hex',
    rawTar(paxRaw(Buffer.from('0x12 path=evil/fx\n')), raw('good', 'data')),
    /malformed PAX record/,
  ],
  ['PAX record with an empty key', rawTar(paxRaw(paxRecord('', 'v')), raw('good', 'data')), /empty key/],
  ['PAX uid Go cannot parse', rawTar(pax({ uid: 'abc' }), raw('good', 'data')), /malformed uid/],
  ['uid field Go cannot parse', rawTar(raw('good', 'data', { fields: [[108, Buffer.from('zz\0')]] })), /malformed uid/],
  ['name that is not UTF-8', rawTar(raw('', 'data', { name: Buffer.from('kube\xff', 'latin1') })), /not valid UTF-8/],
  [
    'GNU sparse PAX records rename the entry in Go',
    rawTar(
      pax({
        'GNU.sparse.size': '4',
        'GNU.sparse.numblocks': '1',
        'GNU.sparse.offset': '0',
        'GNU.sparse.numbytes': '4',
        'GNU.sparse.name': 'kube/evil',
      }),
      raw('kube/plain', 'data'),
    ),
    /GNU\.sparse/,
  ],
  ['PAX path with a NUL', rawTar(pax({ path: 'kube/a\0' }), raw('x', 'data')), /NUL in "path"/],
  [
    'base-256 size with a first byte Go reads as more bits',
    rawTar(
      raw('x', 'data', { fields: [[124, Buffer.concat([Buffer.from([0x81]), Buffer.alloc(10), Buffer.from([4])])]] }),
    ),
    /base-256 size/,
  ],
  [
    'PAX header with no entry after it',
    rawTar(raw('a', 'x'), pax({ path: 'b' })),
    /followed by the end of the archive/,
  ],
  [
    'star header (131-byte prefix in Go)',
    rawTar(raw('x', 'data', { prefix: 'p', fields: [[508, Buffer.from('tar\0')]] })),
    /star-format/,
  ],
  [
    'GNU header with an octal atime (Python prepends it as a name prefix)',
    rawTar(raw('x', 'data', { gnu: true, fields: [[345, Buffer.from('1234567\0')]] })),
    /GNU header at tar byte 0 has data in the ustar prefix field/,
  ],
  [
    'V7 header with bytes in the prefix field (Python prepends them)',
    rawTar(
      raw('x', 'data', {
        fields: [
          [257, Buffer.alloc(8)],
          [345, Buffer.from('kube')],
        ],
      }),
    ),
    /V7 header at tar byte 0 has data in the ustar prefix field/,
  ],
  ['hdrcharset', rawTar(pax({ hdrcharset: 'BINARY', path: 'kube/a' }), raw('x', 'data')), /hdrcharset/],
];

// Benign odd forms kko must read exactly as Go and Python do.
const odd: Array<[string, Buffer]> = [
  [
    'GNU long name and ./ prefixes',
    rawTar(
      raw('./', '', { type: '5', gnu: true }),
      gnuLong(`images/blobs/sha256/${'a'.repeat(150)}`),
      raw('short', 'L!', { gnu: true }),
      raw('./kube/', '', { type: '5' }),
      raw('./kube/x', 'x'),
    ),
  ],
  [
    'V7 directory and V7 file (type NUL)',
    rawTar(raw('kube/', '', { type: '\0' }), raw('kube/f', 'v7', { type: '\0' })),
  ],
  ['base-256 size', rawTar(raw('kube/b', 'data', { fields: [[124, b256(4)]] }))],
  ['global header with a comment only (git archive)', rawTar(pax({ comment: '0123abcd' }, 'g'), raw('kube/a', 'a'))],
  [
    'PAX mtime, uid and a binary xattr',
    rawTar(
      paxRaw(
        Buffer.concat([
          paxRecord('mtime', '1700000000.5'),
          paxRecord('uid', '1000'),
          paxRecord('SCHILY.xattr.user.bin', Buffer.from([0, 1, 2])),
        ]),
      ),
      raw('kube/a', 'a'),
    ),
  ],
  ['PAX path and size', rawTar(pax({ path: `kube/${'p'.repeat(200)}`, size: '3' }), raw('short', 'abc'))],
];

let work: { dir: string; cleanup: () => Promise<void> };
let goBin: string | undefined;

beforeAll(async () => {
  work = await tempDir('kko-tar-diff-');
  goBin = buildGoReferee();
});
afterAll(async () => {
  await work?.cleanup();
  if (goBin) await rm(goBin, { force: true });
});

function expectAgreement(tar: Buffer, kko: Listing): void {
  if (!goBin) return;
  if ('error' in kko) return;
  expect(goList(goBin, tar), 'Go archive/tar (kk) reads it differently').toEqual(kko);
  expect(pythonList(tar), 'Python tarfile reads it differently').toEqual(kko);
}

describe.skipIf(!!process.env.KKO_SKIP_GO && !goBin)(
  'tar reader differential: kko vs Go archive/tar (kk) vs Python tarfile',
  () => {
    it.each(hostile)('refuses: %s', async (_what, tar, message) => {
      const kko = await kkoList(tar);
      expect('error' in kko ? kko.error : `accepted ${JSON.stringify(kko)}`).toMatch(message);
      expectAgreement(tar, kko); // nothing to compare once refused; kept so a relaxed rule must still agree with Go
    });

    it.each(odd)('agrees: %s', async (_what, tar) => {
      const kko = await kkoList(tar);
      expect(kko).toHaveProperty('rows');
      expectAgreement(tar, kko);
    });

    it("agrees on kko's own writer output (prefix and PAX long names, gzip)", async () => {
      const path = join(work.dir, 'ours.tar');
      await writeArchive(
        [
          { name: 'kko/inventory.json', data: Buffer.from('{}'), first: true },
          { name: `images/${'d'.repeat(120)}/${'f'.repeat(90)}`, data: Buffer.from('prefix') },
          { name: `x/${'y'.repeat(300)}`, data: Buffer.from('pax') },
          { name: 'kube/big', data: Buffer.alloc(70_000, 7) },
        ],
        path,
        'none',
        {},
      );
      const tar = await readFile(path);
      for (const input of [tar, gzipSync(tar)]) {
        const kko = await kkoList(input);
        expect(kko).toHaveProperty('rows');
        expectAgreement(input, kko);
      }
    });

    it.each(['gnu', 'pax', 'ustar'])(
      'agrees on GNU tar --format=%s output (directories, long and UTF-8 names)',
      async (format) => {
        const src = join(work.dir, `src-${format}`);
        const deep = join(src, 'kube', 'v1.30.4', 'amd64');
        await mkdir(deep, { recursive: true });
        await writeFile(join(deep, 'kubeadm'), 'kubeadm bytes');
        await writeFile(join(src, 'kube', 'größe.txt'), 'utf-8 name');
        if (format !== 'ustar') await writeFile(join(deep, `${'long-name-'.repeat(15)}.bin`), Buffer.alloc(3000, 1));
        const tar = execFileSync('tar', [`--format=${format}`, '--sort=name', '-cf', '-', '-C', src, '.']);
        const kko = await kkoList(tar);
        expect(kko).toHaveProperty('rows');
        expectAgreement(tar, kko);
      },
    );
  },
);
