import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import type { Digest } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';
import {
  discardBody,
  REGISTRY_PROFILE,
  requestLabel,
  transportFailure,
  type HttpResponse,
  type TransportFailure,
  type TransportProfile,
} from './http.js';

export type RangedBodyOptions = {
  readonly offset: number; // the request asked for bytes from here on (Range: bytes=<offset>-)
  readonly what: string;
  readonly digest?: Digest; // checked at the end of a whole-body read (offset 0)
  readonly maxBytes?: number; // bytes delivered beyond this fail with SIZE_LIMIT_EXCEEDED
};

type Fail = (
  code: 'NETWORK_ERROR' | 'DIGEST_MISMATCH' | 'SIZE_LIMIT_EXCEEDED' | undefined,
  why: string,
  retryable: boolean,
) => TransportFailure;

// Where the body starts relative to the file: a 206 must start at `offset`; a 200 starts at 0 and we skip.
function bytesToSkip(res: HttpResponse, offset: number, fail: Fail): number {
  if (res.status === 200) return offset;
  const range = res.headers.get('content-range');
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(range?.trim() ?? '');
  if (!m || Number(m[1]) !== offset)
    throw fail(
      undefined,
      `asked for bytes from ${offset}, got ${res.status} with Content-Range ${quoteValue(range ?? undefined)}`,
      false,
    );
  return 0;
}

// Skips a prefix, counts bytes, bounds them, and (given a digest) hashes; checks length and digest at the end.
class RangedBody extends Transform {
  #skip: number;
  #seen = 0;
  #delivered = 0;
  readonly #offset: number;
  readonly #expected: number | undefined;
  readonly #limit: number;
  readonly #hash: Hash | undefined;
  readonly #digest: Digest | undefined;
  readonly #fail: Fail;

  constructor(skip: number, expected: number | undefined, opts: RangedBodyOptions, fail: Fail) {
    super();
    this.#skip = skip;
    this.#offset = opts.offset;
    this.#expected = expected;
    this.#limit = opts.maxBytes ?? Infinity;
    this.#digest = opts.offset === 0 ? opts.digest : undefined;
    this.#hash = this.#digest ? createHash('sha256') : undefined;
    this.#fail = fail;
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
    this.#delivered += data.length;
    if (this.#delivered > this.#limit)
      return done(this.#fail('SIZE_LIMIT_EXCEEDED', `body exceeds ${this.#limit} bytes`, false));
    this.#hash?.update(data);
    done(null, data);
  }

  override _flush(done: TransformCallback): void {
    if (this.#expected !== undefined && this.#seen < this.#expected) {
      return done(this.#fail('NETWORK_ERROR', `body ended after ${this.#seen} of ${this.#expected} bytes`, true));
    }
    if (this.#skip > 0)
      return done(
        this.#fail(
          'NETWORK_ERROR',
          `body ended before byte ${this.#offset}: the file is shorter than what was already downloaded`,
          false,
        ),
      );
    const actual = this.#hash ? `sha256:${this.#hash.digest('hex')}` : undefined;
    if (actual !== undefined && actual !== this.#digest)
      return done(this.#fail('DIGEST_MISMATCH', `content hashes to ${actual}`, false));
    done();
  }
}

// The body of a GET sent with Range: bytes=<offset>- as a Node stream of the bytes from `offset` on, for registry
// blobs and file downloads alike (HTTP Range continuation, in one place). A server that ignores Range (200) has its
// first `offset` bytes dropped; a 206 must start at `offset`. Transport failures mid-body and a body shorter than its
// Content-Length are retryable NETWORK_ERRORs (resume with a larger offset); a wrong digest is DIGEST_MISMATCH.
export function rangedBody(
  res: HttpResponse,
  opts: RangedBodyOptions,
  profile: TransportProfile = REGISTRY_PROFILE,
): Readable {
  const label = requestLabel(opts.what, 'GET', res.url);
  const fail: Fail = (code, why, retryable) =>
    profile.error(code ?? profile.failCode, `${label}: ${why}`, {
      status: res.status,
      method: 'GET',
      url: res.url,
      retryable,
    });
  let skip: number;
  try {
    skip = bytesToSkip(res, opts.offset, fail);
  } catch (err) {
    void discardBody(res);
    throw err;
  }
  const length = res.headers.get('content-length');
  const check = new RangedBody(skip, length !== null && /^\d+$/.test(length) ? Number(length) : undefined, opts, fail);
  const source =
    res.nodeBody ??
    (res.body === null ? undefined : Readable.fromWeb(res.body as unknown as NodeWebReadableStream<Uint8Array>));
  if (source === undefined) {
    check.end();
    return check;
  }
  source.on('error', (err) => check.destroy(transportFailure(profile, opts.what, 'GET', res.url, err, true)));
  check.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(check);
  return check;
}
