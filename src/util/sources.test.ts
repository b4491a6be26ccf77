import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { redactText, sourcesExhausted } from './sources.js';

describe('sources', () => {
  it('redactText strips userinfo from every URL in a text', () => {
    expect(
      redactText(
        'Request cannot be constructed from a URL that includes credentials: http://alice:s3cret@127.0.0.1:8099/dl/x and https://bob@h/y',
      ),
    ).toBe(
      'Request cannot be constructed from a URL that includes credentials: http://***@127.0.0.1:8099/dl/x and https://***@h/y',
    );
    expect(redactText('docker.io/library/redis:5 is fine; user@example.com too')).toBe(
      'docker.io/library/redis:5 is fine; user@example.com too',
    );
  });

  it('sourcesExhausted keeps one shared code, else MIRRORS_EXHAUSTED, and never prints a secret', () => {
    const same = sourcesExhausted('image x', [
      { source: 'a', via: 'mirror', error: new KkoError('WRONG_PLATFORM', 'amd64 only') },
      { source: 'b', via: 'upstream', error: new KkoError('WRONG_PLATFORM', 'amd64 only') },
    ]);
    expect(same.code).toBe('WRONG_PLATFORM');
    const mixed = sourcesExhausted('image x', [
      { source: 'http://u:p@a/', via: 'mirror', error: new Error('GET http://u:p@a/x: ECONNREFUSED') },
      { source: 'b', via: 'upstream', error: new KkoError('MANIFEST_UNKNOWN', 'not found', { hint: 'check the tag' }) },
    ]);
    expect(mixed.code).toBe('MIRRORS_EXHAUSTED');
    expect(mixed.message).not.toContain('p@');
    expect(mixed.message).toContain('1) http://***@a/ (mirror)');
    expect(mixed.hint).toBe('check the tag');
  });
});
