import { describe, expect, it } from 'vitest';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';
import { rangedBody } from './blob-stream.js';
import type { HttpResponse } from './http.js';

// undici's Headers is the global one; their type declarations differ.
const headers = (init?: Record<string, string>) => new Headers(init) as unknown as HttpResponse['headers'];

// A 206 whose Content-Range is not the one asked for is refused naming the header; the value is the server's, so it
// is quoted, cut and escaped (a header value may hold ESC, BEL and C1 bytes; not CR, LF or NUL).
describe('rangedBody: a hostile Content-Range in the refusal', () => {
  it.each([
    ['control characters', CONTROL_TEXT.replace(/[\r\n]/g, ' ')],
    ['a megabyte', MB_TEXT],
  ])('%s', async (_what, value) => {
    const res = {
      status: 206,
      headers: headers({ 'content-range': value }),
      url: new URL('http://127.0.0.1:1/v2/library/redis/blobs/sha256:00'),
      body: null,
    };
    const message = await messageOf(() => rangedBody(res, { offset: 5, what: 'blob' }));
    expect(message).toContain('asked for bytes from 5, got 206 with Content-Range "');
    expect(message).not.toContain(value);
    expectSafeText(message);
  });
});

it('a 206 without Content-Range says it is missing', async () => {
  const res = { status: 206, headers: headers(), url: new URL('http://127.0.0.1:1/v2/r/blobs/x'), body: null };
  expect(await messageOf(() => rangedBody(res, { offset: 5, what: 'blob' }))).toContain(
    'got 206 with Content-Range missing',
  );
});
