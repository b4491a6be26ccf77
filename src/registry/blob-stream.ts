import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import type { Digest } from '../reference/index.js';
import { redactUrl, RegistryError } from './errors.js';
import { networkError, type HttpResponse } from './http.js';

export type BlobStreamOptions = {
  readonly digest: Digest;
  readonly offset: number;
  readonly verify: boolean;
  readonly what: string;
};

// Where the body starts relative to the blob: a 206 must start at `offset`; a 200 starts at 0 and we skip.
function bytesToSkip(res: HttpResponse, opts: BlobStreamOptions): number {
  if (res.status === 200) return opts.offset;
  const range = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (!range || Number(range[1]) !== opts.offset) {
    throw new RegistryError('REGISTRY_ERROR', `${opts.what}: GET ${redactUrl(res.url)}: 206 with Content-Range "${res.headers.get('content-range') ?? ''}", wanted start ${opts.offset}`, {
      status: 206,
      method: 'GET',
      url: res.url,
    });
  }
  return 0;
}

// Skips a prefix, counts bytes, and (from offset 0) hashes; checks length and digest at the end.
class BlobCheck extends Transform {
  #skip: number;
  #seen = 0;
  readonly #expected: number | undefined;
  readonly #hash: Hash | undefined;

  constructor(
    skip: number,
    expected: number | undefined,
    verify: boolean,
    readonly opts: BlobStreamOptions,
    readonly res: HttpResponse,
  ) {
    super();
    this.#skip = skip;
    this.#expected = expected;
    this.#hash = verify ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let data = chunk;
    this.#seen += data.length;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    if (data.length === 0) return done();
    this.#hash?.update(data);
    done(null, data);
  }

  override _flush(done: TransformCallback): void {
    if (this.#expected !== undefined && this.#seen < this.#expected) {
      return done(this.#fail('NETWORK_ERROR', `body ended after ${this.#seen} of ${this.#expected} bytes`, true));
    }
    if (this.#skip > 0) return done(this.#fail('NETWORK_ERROR', `body ended ${this.#skip} bytes before the requested offset`, true));
    const actual = this.#hash ? `sha256:${this.#hash.digest('hex')}` : undefined;
    if (actual !== undefined && actual !== this.opts.digest) {
      return done(this.#fail('DIGEST_MISMATCH', `content hashes to ${actual}`, false));
    }
    done();
  }

  #fail(code: 'NETWORK_ERROR' | 'DIGEST_MISMATCH', why: string, retryable: boolean): RegistryError {
    return new RegistryError(code, `${this.opts.what}: GET ${redactUrl(this.res.url)}: ${why}`, {
      status: this.res.status,
      method: 'GET',
      url: this.res.url,
      retryable,
    });
  }
}

// A Node stream of the blob bytes from `offset` on. Transport failures mid-body surface as retryable
// NETWORK_ERROR (resume with a larger offset); a wrong digest (whole-blob reads only) as DIGEST_MISMATCH.
export function blobReadable(res: HttpResponse, opts: BlobStreamOptions): Readable {
  const skip = bytesToSkip(res, opts);
  const length = res.headers.get('content-length');
  const expected = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  const check = new BlobCheck(skip, expected, opts.verify && opts.offset === 0, opts, res);
  if (res.body === null) {
    check.end();
    return check;
  }
  const source = Readable.fromWeb(res.body as unknown as NodeWebReadableStream<Uint8Array>);
  source.on('error', (err) => check.destroy(networkError(opts.what, 'GET', res.url, err, true)));
  check.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(check);
  return check;
}
