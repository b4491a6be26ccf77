import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { fromRawFsError, fsError } from './fs-errors.js';

const errno = (code: string, extra: Record<string, string> = {}): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: boom`), { code, ...extra });

describe('fsError', () => {
  it.each([
    ['ENOENT', 'FILE_NOT_FOUND', 2],
    ['ENOTDIR', 'INVALID_INPUT', 2],
    ['ELOOP', 'INVALID_INPUT', 2],
    ['EISDIR', 'INVALID_INPUT', 2],
    ['ENAMETOOLONG', 'INVALID_INPUT', 2],
    ['EACCES', 'IO_ERROR', 1],
    ['EPERM', 'IO_ERROR', 1],
    ['ENOSPC', 'IO_ERROR', 1],
    ['EROFS', 'IO_ERROR', 1],
    ['EIO', 'IO_ERROR', 1],
    ['EMFILE', 'IO_ERROR', 1],
  ])('%s → %s (exit %i), naming the path and the errno', (code, kko, exit) => {
    const e = fsError('writing', '/x/y', errno(code));
    expect(e.code).toBe(kko);
    expect(e.isInputError ? 2 : 1).toBe(exit);
    expect(e.message).toMatch(new RegExp(`^writing /x/y: .*${code}`));
  });

  it('passes a KkoError through and wraps a non-errno error as IO_ERROR with its message', () => {
    const k = new KkoError('DIGEST_MISMATCH', 'x');
    expect(fsError('writing', '/p', k)).toBe(k);
    expect(fsError('writing', '/p', new Error('odd')).message).toBe('writing /p: odd');
  });

  it('fromRawFsError maps only Node fs errors (syscall + path)', () => {
    expect(fromRawFsError(errno('ENOTDIR', { syscall: 'stat', path: '/f/x' }))?.message).toBe(
      'stat /f/x: a parent of this path is a file, not a directory (ENOTDIR)',
    );
    expect(fromRawFsError(errno('ECONNRESET'))).toBeUndefined();
    expect(fromRawFsError(new TypeError('bug'))).toBeUndefined();
  });
});
