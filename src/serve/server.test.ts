import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { parseListen } from './server.js';

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:5000', { host: '127.0.0.1', port: 5000 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    [':5000', { host: '0.0.0.0', port: 5000 }],
    ['5000', { host: '0.0.0.0', port: 5000 }],
  ])('%s', (value, want) => {
    expect(parseListen(value)).toEqual(want);
  });

  // The value is typed by the user, but a pasted megabyte or an escape sequence is quoted, cut and escaped.
  it.each([
    [
      'a 1 MB value',
      `${'h'.repeat(1024 * 1024)}:99999`,
      /^--listen "h{200}"… \(1048582 characters\): expected HOST:PORT$/,
    ],
    [
      'control characters',
      'x\u001b]0;pwned\u0007\r\n\u009b:5000x',
      /^--listen "x\\u001b\]0;pwned\\u0007\\r\\n\\u009b:5000x": expected HOST:PORT$/,
    ],
  ])('refuses %s with a short, escaped message', (_what, value, want) => {
    let err: unknown;
    try {
      parseListen(value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KkoError);
    const message = (err as KkoError).message;
    expect((err as KkoError).code).toBe('INVALID_INPUT');
    expect(message).toMatch(want);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
