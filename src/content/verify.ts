import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { KkoError } from '../errors.js';
import type { Descriptor } from '../oci/index.js';

// A pass-through that counts and hashes what flows and fails the stream at its end — DIGEST_MISMATCH naming the
// digest, or SIZE_LIMIT_EXCEEDED / a short body — when the bytes are not those of `desc`. The bytes before the
// failure have flowed on, except the last chunk, held back until the end matched: a consumer keeps nothing until
// the stream ended cleanly (putBlob's temp-and-rename).
export class VerifyStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #seen = 0;
  #held: Buffer | undefined;

  // onVerified: called once the whole stream hashed to desc (before the stream ends).
  constructor(
    readonly desc: Pick<Descriptor, 'digest' | 'size'>,
    readonly what: string,
    readonly onVerified?: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.desc.size)
      return done(this.#fail('SIZE_LIMIT_EXCEEDED', `more than the ${this.desc.size} bytes its descriptor says`));
    this.#hash.update(chunk);
    const held = this.#held;
    this.#held = chunk;
    done(null, held);
  }

  // The last chunk goes on only once the whole matched, so a consumer that streams on (serve's response) never
  // delivers a complete body of wrong bytes: it is cut short instead.
  override _flush(done: TransformCallback): void {
    if (this.#seen < this.desc.size)
      return done(this.#fail('DIGEST_MISMATCH', `${this.#seen} bytes, not the ${this.desc.size} its descriptor says`));
    const got = `sha256:${this.#hash.digest('hex')}`;
    if (got !== this.desc.digest) return done(this.#fail('DIGEST_MISMATCH', `content hashes to ${got}`));
    this.onVerified?.();
    done(null, this.#held);
  }

  #fail(code: 'DIGEST_MISMATCH' | 'SIZE_LIMIT_EXCEEDED', why: string): KkoError {
    return new KkoError(code, `${this.what}: ${why}, expected ${this.desc.digest}`, {
      hint: 'the stored copy is corrupt: fetch or copy the image again',
    });
  }
}

// `source` through `t`: an error on either side destroys both and surfaces on the returned stream; destroying it
// (a consumer that stops early) destroys the source.
export function through(source: Readable, t: Transform): Transform {
  return pipeline(source, t, () => undefined);
}
