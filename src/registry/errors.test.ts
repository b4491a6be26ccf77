import { describe, expect, it } from 'vitest';
import { errorCodeFor, isRetryableStatus, parseOciErrors, redactUrl, RegistryError, statusError } from './errors.js';

describe('redactUrl', () => {
  it.each([
    ['https://user:pass@reg.example.com/v2/x/blobs/sha256:ab', 'https://reg.example.com/v2/x/blobs/sha256:ab'],
    [
      'https://bucket.s3.amazonaws.com/blob?X-Amz-Signature=secret&X-Amz-Credential=AKIA',
      'https://bucket.s3.amazonaws.com/blob?…',
    ],
    ['http://127.0.0.1:5000/v2/x/blobs/uploads/uuid?_state=abc', 'http://127.0.0.1:5000/v2/x/blobs/uploads/uuid?…'],
    ['http://127.0.0.1:5000/v2/', 'http://127.0.0.1:5000/v2/'],
    ['http://h/p#frag', 'http://h/p'],
    ['not a url //user:pw@host/x?token=1', 'not a url //host/x?…'],
  ])('%s', (input, want) => {
    expect(redactUrl(input)).toBe(want);
    expect(redactUrl(input)).not.toMatch(/secret|pass@|pw@|_state=|token=/);
  });

  it('is applied to the url a RegistryError keeps', () => {
    const e = new RegistryError('REGISTRY_ERROR', 'x', { url: 'https://u:p@h/x?sig=1' });
    expect(e.url).toBe('https://h/x?…');
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [501, false],
    [505, false],
    [400, false],
    [401, false],
    [404, false],
    [200, false],
  ])('%i → %s', (status, want) => {
    expect(isRetryableStatus(status)).toBe(want);
  });
});

describe('OCI error bodies', () => {
  it('parses the errors array and ignores junk', () => {
    expect(
      parseOciErrors('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}},{"nocode":1}]}'),
    ).toEqual([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }]);
    expect(parseOciErrors('<html>')).toEqual([]);
    expect(parseOciErrors('{"errors":"x"}')).toEqual([]);
  });

  it.each([
    [401, [], 'UNAUTHORIZED'],
    [403, [{ code: 'DENIED' }], 'UNAUTHORIZED'],
    [404, [{ code: 'MANIFEST_UNKNOWN' }], 'MANIFEST_UNKNOWN'],
    [404, [{ code: 'BLOB_UNKNOWN' }], 'BLOB_UNKNOWN'],
    [404, [{ code: 'NAME_UNKNOWN' }], 'MANIFEST_UNKNOWN'],
    [404, [], 'MANIFEST_UNKNOWN'],
    [500, [], 'REGISTRY_ERROR'],
    [400, [{ code: 'MANIFEST_INVALID' }], 'REGISTRY_ERROR'],
  ] as const)('HTTP %i %j → %s', (status, oci, want) => {
    expect(errorCodeFor(status, oci, 'MANIFEST_UNKNOWN')).toBe(want);
  });

  it('builds "doing what: method url: why" messages with the OCI codes', () => {
    const e = statusError(
      'getting manifest r/x:1',
      'GET',
      new URL('https://h/v2/x/manifests/1?x=secret'),
      503,
      '{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}',
      'MANIFEST_UNKNOWN',
    );
    expect(e.message).toBe('getting manifest r/x:1: GET https://h/v2/x/manifests/1?…: UNAVAILABLE: busy (HTTP 503)');
    expect(e).toMatchObject({ code: 'REGISTRY_ERROR', status: 503, retryable: true, method: 'GET' });
  });

  // The body is the registry's: a megabyte message, escape sequences, or thousands of entries stay one short line.
  it.each([
    ['a 1 MB message', [{ code: 'DENIED', message: 'm'.repeat(1024 * 1024) }]],
    ['a 1 MB code', [{ code: 'C'.repeat(1024 * 1024) }]],
    ['control characters', [{ code: 'X\u001b[2J', message: 'busy\u001b]0;pwned\u0007\r\nok: fine\u009b' }]],
    ['10 000 entries', Array.from({ length: 10_000 }, (_, i) => ({ code: 'UNAVAILABLE', message: `busy ${i}` }))],
  ])('keeps %s bounded and escaped', (_what, errors) => {
    const e = statusError(
      'pushing blob',
      'PUT',
      new URL('https://h/v2/x/blobs/uploads/1'),
      400,
      JSON.stringify({ errors }),
      'BLOB_UNKNOWN',
    );
    expect(e.message).toMatch(/^pushing blob: PUT https:\/\/h\/v2\/x\/blobs\/uploads\/1: .* \(HTTP 400\)$/);
    expect(e.message.length).toBeLessThan(2000);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    if (errors.length > 5) expect(e.message).toContain('UNAVAILABLE: busy 4; and 9995 more (HTTP 400)');
  });
});
