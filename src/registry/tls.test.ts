import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCertsDir } from './tls.js';

describe('loadCertsDir (kk / containers certs.d rules)', () => {
  let dir: string;
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  async function withFiles(files: Record<string, string>): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), 'kko-certs-'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  }

  it('treats *.crt as CAs and *.cert + *.key as client pairs; ignores other files', async () => {
    const d = await withFiles({
      'ca.crt': 'CA1',
      'extra.crt': 'CA2',
      'client.cert': 'CERT',
      'client.key': 'KEY',
      README: 'x',
    });
    expect(await loadCertsDir(d)).toEqual({ ca: ['CA1', 'CA2'], cert: ['CERT'], key: ['KEY'] });
  });

  it('rejects a client certificate without its key, and a key without its certificate', async () => {
    await expect(loadCertsDir(await withFiles({ 'client.cert': 'C' }))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await rm(dir, { recursive: true });
    await expect(loadCertsDir(await withFiles({ 'client.key': 'K' }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('reports a missing directory as FILE_NOT_FOUND', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kko-certs-'));
    await expect(loadCertsDir(join(dir, 'nope'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });
});
