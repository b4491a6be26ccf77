import { isKkoError, KkoError, type ErrorCode } from '../errors.js';

type Mapping = { code: ErrorCode; why: string; hint?: string };

// errno → what the user is told. A path that cannot name a file (a parent is a file, a symlink loop, a
// folder where a file belongs, a name too long) is their input: exit 2. A refusal or a failing disk is
// the environment: exit 1. Codes not listed are IO_ERROR with the bare errno.
const ERRNO: Readonly<Record<string, Mapping>> = {
  ENOENT: { code: 'FILE_NOT_FOUND', why: 'no such file or directory' },
  ENOTDIR: {
    code: 'INVALID_INPUT',
    why: 'a parent of this path is a file, not a directory',
    hint: 'check the path; every part before the last must be a folder',
  },
  ELOOP: {
    code: 'INVALID_INPUT',
    why: 'too many levels of symbolic links (a symlink loop?)',
    hint: 'check the symlinks along this path (ls -l)',
  },
  EISDIR: { code: 'INVALID_INPUT', why: 'is a directory', hint: 'pass a file name, not a folder' },
  ENAMETOOLONG: {
    code: 'INVALID_INPUT',
    why: 'file name too long',
    hint: 'shorten the path (a name is at most 255 bytes)',
  },
  EACCES: { code: 'IO_ERROR', why: 'permission denied', hint: 'check the permissions of this path and its folders' },
  EPERM: {
    code: 'IO_ERROR',
    why: 'operation not permitted',
    hint: 'check the permissions of this path and its folders',
  },
  EROFS: { code: 'IO_ERROR', why: 'read-only file system', hint: 'write to a writable location' },
  ENOSPC: { code: 'IO_ERROR', why: 'no space left on device', hint: 'the disk is full: free space or write elsewhere' },
  EDQUOT: { code: 'IO_ERROR', why: 'disk quota exceeded', hint: 'free space or write elsewhere' },
  EIO: { code: 'IO_ERROR', why: 'I/O error', hint: 'the disk or file system reports a failure; check dmesg' },
};

// The errno of a Node fs error, when it is one.
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return err instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

// "reading manifest m.yaml: a parent of this path is a file…" — the one mapping of a file-system error on
// `path` to a KkoError. `doing` is "reading manifest", "writing", … A KkoError passes through unchanged.
export function fsError(doing: string, path: string, err: unknown): KkoError {
  if (isKkoError(err)) return err;
  const errno = errnoOf(err);
  const m = errno ? ERRNO[errno] : undefined;
  const why = m ? `${m.why} (${errno})` : (errno ?? (err instanceof Error ? err.message : String(err)));
  return new KkoError(m?.code ?? 'IO_ERROR', `${doing} ${path}: ${why}`, {
    cause: err,
    ...(m?.hint ? { hint: m.hint } : {}),
  });
}

// A raw Node fs error that escaped a library call (it carries syscall and path): the same mapping, named by
// its syscall. Anything else is not a file-system error and stays as it is.
export function fromRawFsError(err: unknown): KkoError | undefined {
  const e = err as NodeJS.ErrnoException;
  if (isKkoError(err) || !errnoOf(err) || typeof e.path !== 'string' || typeof e.syscall !== 'string') return undefined;
  return fsError(e.syscall, e.path, err);
}
