import { describe, expect, it } from 'vitest';
import { compressionForOutput } from './output-name.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

describe('compressionForOutput', () => {
  it.each([
    ['kubekey-artifact.tar.gz', undefined, 'gzip'],
    ['a.tgz', undefined, 'gzip'],
    ['a.tar.zst', undefined, 'zstd'],
    ['A.TZST', undefined, 'zstd'],
    ['a.tar', undefined, 'none'],
    ['-', undefined, 'gzip'],
    ['artifact', undefined, 'gzip'],
    ['a.tar.zst', 'zstd', 'zstd'],
    ['-', 'none', 'none'],
  ])('%s with --compress %s → %s, no warning', (name, flag, want) => {
    expect(compressionForOutput(name, flag)).toEqual({ compression: want });
  });

  it('keeps a flag the name contradicts and says so', () => {
    const r = compressionForOutput('a.tar.gz', 'zstd');
    expect(r.compression).toBe('zstd');
    expect(r.warning).toBe('--compress zstd but the output name a.tar.gz says gzip');
    expect(compressionForOutput('a.tar', 'gzip').warning).toMatch(/says none/);
  });

  it('refuses an unknown --compress value', () => {
    expect(() => compressionForOutput('a.tar', 'xz')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});

describe('compressionForOutput: a hostile --compress value', () => {
  it.each([
    ['a 1 MB value', `z${MB_TEXT}`],
    ['control characters', CONTROL_TEXT],
  ])('%s is quoted, cut and escaped', async (_what, flag) => {
    const m = await messageOf(() => compressionForOutput('a.tar', flag));
    expect(m).toMatch(/^--compress: unknown value "/);
    expectSafeText(m);
  });
});
