import { describe, expect, it } from 'vitest';
import { redactText } from './redact.js';
import { sourcesExhausted } from './sources.js';

describe('redactText: only the URLs inside a message are redacted', () => {
  it.each([
    // text that merely looks like "scheme:" is left alone (redactUrl on a whole message made it "enotdir://")
    ["ENOTDIR: not a directory, mkdir '/tmp/c/tmp'", "ENOTDIR: not a directory, mkdir '/tmp/c/tmp'"],
    ['why? because the disk is full', 'why? because the disk is full'],
    // a query string goes, the text after the URL stays
    [
      'GET https://s3.example/blob?X-Amz-Signature=secret: HTTP 403 — what now? retry later',
      'GET https://s3.example/blob?…: HTTP 403 — what now? retry later',
    ],
    ['see (http://h/x?token=abc). Then retry.', 'see (http://h/x?…). Then retry.'],
    [
      'PATCH "http://127.0.0.1:5000/v2/x/blobs/uploads/u?_state=zzz", 2 tries',
      'PATCH "http://127.0.0.1:5000/v2/x/blobs/uploads/u?…", 2 tries',
    ],
    // userinfo is masked, the URL is not re-serialised (no added slash, case kept)
    ['fetch http://alice:s3cret@Mirror.Example:8080 failed', 'fetch http://***@Mirror.Example:8080 failed'],
    ['two: https://a:b@h1/p?q=1 and https://h2/p?r=2; done', 'two: https://***@h1/p?… and https://h2/p?…; done'],
    ['docker.io/library/redis:5 and user@example.com stay', 'docker.io/library/redis:5 and user@example.com stay'],
    ['already redacted http://h/x?… stays', 'already redacted http://h/x?… stays'],
  ])('%s', (input, want) => {
    expect(redactText(input)).toBe(want);
  });

  it('sourcesExhausted keeps each failure text intact apart from its URLs', () => {
    const e = sourcesExhausted('downloading helm', [
      {
        source: 'https://u:p@get.example/helm.tgz?sig=1',
        via: 'mirror',
        error: new Error("ENOTDIR: not a directory, mkdir '/c/tmp'"),
      },
      {
        source: 'https://get.example/helm.tgz',
        via: 'upstream',
        error: new Error('GET https://get.example/helm.tgz?X-Sig=secret: HTTP 500? odd'),
      },
    ]);
    expect(e.message).toBe(
      "downloading helm: every source failed:\n  1) https://***@get.example/helm.tgz?… (mirror): ENOTDIR: not a directory, mkdir '/c/tmp'\n  2) https://get.example/helm.tgz (upstream): GET https://get.example/helm.tgz?…: HTTP 500? odd",
    );
  });
});
