import { describe, expect, it } from 'vitest';
import { inside } from './import.js';

// The last guard before a file is written: the refused name is the archive's, quoted, cut and escaped.
describe('inside', () => {
  it('resolves a name under the base', () => {
    expect(inside('/base', 'a/b')).toBe('/base/a/b');
  });

  it.each([
    [
      'a 1 MB name',
      `../${'n'.repeat(1024 * 1024)}`,
      /^refusing to write "\.\.\/n+"… \(1048579 characters\): outside \/base$/,
    ],
    [
      'control characters',
      '../\u001b]0;pwned\u0007\r\n\u009b',
      /^refusing to write "\.\.\/\\u001b\]0;pwned\\u0007\\r\\n\\u009b": outside \/base$/,
    ],
  ])('refuses %s outside the base', (_what, name, want) => {
    let err: unknown;
    try {
      inside('/base', name);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    expect((err as Error).message).toMatch(want);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect((err as Error).message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
