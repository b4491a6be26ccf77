import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ENTRIES } from '../../src/archive/reader.js';
import { raw, rawHeader, rawTar } from '../support/raw-tar.js';
import { runBuiltCli as kko, RSS_LIMIT_KB } from '../support/built-cli.js';
import { tempDir } from './run-cli.js';

// The built CLI on hostile archives: refused with exit 2 naming the entry and its offset, in bounded memory and time.

let work: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  work = await tempDir('kko-archive-limits-');
});
afterAll(() => work?.cleanup());

describe('kko artifact inspect | verify on hostile archives', () => {
  it('a directory whose "size" hides a rewritten index.json: exit 2, naming the entry and its offset', async () => {
    const evilIndex = raw('images/index.json', '{"schemaVersion":2,"manifests":[]}');
    const tar = rawTar(
      raw('images/oci-layout', '{"imageLayoutVersion":"1.0.0"}'),
      raw('images/', evilIndex, { type: '5' }),
      raw('images/index.json', '{"schemaVersion":2,"manifests":[]}'),
    );
    const path = join(work.dir, 'hidden-index.tar.gz');
    await writeFile(path, gzipSync(tar));
    for (const cmd of ['inspect', 'verify']) {
      const r = await kko(['artifact', cmd, path]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(
        /error: reading archive: refusing directory "images\/" \(header at tar byte 1024\) with size 1024/,
      );
      expect(r.stderr).toMatch(/^hint: /m);
    }
  });

  it('a 1.6 KB .tar.zst declaring a 1.9 GB zstd window: refused at once, in little memory', async () => {
    const rle = Buffer.alloc(4 * 400);
    for (let i = 0; i < 400; i++) rle.writeUIntLE(((128 * 1024) << 3) | 2 | (i === 399 ? 1 : 0), 4 * i, 3);
    const path = join(work.dir, 'bomb.tar.zst');
    await writeFile(path, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa7]), rle]));
    const r = await kko(['artifact', 'verify', path]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/zstd frame at compressed byte 0 needs a 2013265920-byte window/);
    expect(r.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('a 9.6 KB .tar.zst of 2,000 one-byte blocks under a 128 MiB window: refused at once, not 12 s of window copies (#7 review)', async () => {
    const header = rawHeader('kube/v1/amd64/kubeadm', { size: 2000 });
    const block = (size: number, type: number, last: boolean): Buffer => {
      const b = Buffer.alloc(3);
      b.writeUIntLE((size << 3) | (type << 1) | (last ? 1 : 0), 0, 3);
      return b;
    };
    const tiny = Array.from({ length: 2000 }, () => Buffer.concat([block(1, 1, false), Buffer.from('a')]));
    const tail = Buffer.alloc(48 + 1024);
    const path = join(work.dir, 'tiny-blocks.tar.zst');
    await writeFile(
      path,
      Buffer.concat([
        Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88]),
        block(512, 0, false),
        header,
        ...tiny,
        block(tail.length, 0, true),
        tail,
      ]),
    );
    expect(spawnSync('zstd', ['-t', '-q', path]).status).toBe(0); // a valid stream: zstd reads it
    const r = await kko(['artifact', 'verify', path]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/zstd frame 1 at compressed byte 0: its 134217728-byte window and small blocks/);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
  });

  it(`more than ${MAX_ENTRIES} tiny entries: refused at the limit, RSS under 256 MB`, async () => {
    const header = rawHeader('x');
    const tar = Buffer.alloc(512 * (MAX_ENTRIES + 1) + 1024);
    for (let i = 0; i <= MAX_ENTRIES; i++) {
      header.fill(0, 0, 100);
      header.write(`images/blobs/sha256/${i.toString(16).padStart(64, '0')}`, 0, 100);
      header.write(' '.repeat(8), 148, 'latin1');
      let sum = 0;
      for (const b of header) sum += b;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      header.copy(tar, 512 * i);
    }
    const path = join(work.dir, 'many.tar.gz');
    await writeFile(path, gzipSync(tar, { level: 1 }));
    const r = await kko(['artifact', 'inspect', path]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `refusing entry "images/blobs/sha256/[0-9a-f]{64}" \\(header at tar byte \\d+\\): more than ${MAX_ENTRIES} entries`,
      ),
    );
    console.log(`${MAX_ENTRIES + 1} entries: ${r.ms} ms, max RSS ${Math.round(r.maxRssKb / 1024)} MB`);
    expect(r.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
  });
});
