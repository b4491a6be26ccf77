import { KkoError } from '../errors.js';
import { parseReference, type Reference } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';

const SCHEME = 'oci://';

// `oci://HOST[:PORT]/repo[:tag][@digest]`, the place a published artifact lives. The host is required (no Docker Hub
// default: an artifact goes where it is told). `needTag`: publish names a tag; pull takes a tag or a digest.
export function parseOciRef(input: string, opts: { flag: string; needTag?: boolean }): Reference {
  const bad = (why: string): KkoError =>
    new KkoError('INVALID_REFERENCE', `${opts.flag} ${quoteValue(input, 200)}: ${why}`, {
      hint: 'write it as oci://HOST[:PORT]/REPOSITORY:TAG, e.g. oci://registry.example.com:5000/kko/artifact:v1.28.12',
    });
  if (!input.startsWith(SCHEME)) throw bad('not an oci:// reference');
  const rest = input.slice(SCHEME.length);
  const first = rest.split('/')[0] ?? '';
  if (!rest.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost'))
    throw bad('no registry host (HOST[:PORT]/ before the repository)');
  let ref: Reference;
  try {
    ref = parseReference(rest);
  } catch (err) {
    throw new KkoError('INVALID_REFERENCE', `${opts.flag}: ${(err as Error).message}`, { cause: err });
  }
  if (opts.needTag && ref.tag === undefined) throw bad('no tag (publish puts the artifact under a tag)');
  if (opts.needTag && ref.digest !== undefined)
    throw bad('a digest: the published index gets its digest from the artifact');
  if (!opts.needTag && ref.tag === undefined && ref.digest === undefined) throw bad('no tag or digest');
  return ref;
}
