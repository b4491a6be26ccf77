import { KkoError } from '../errors.js';
import { quoteValue } from '../util/safe-text.js';

// An image reference, parsed once at the edge. `registry` is a host[:port]; `repository` has no registry part.
export type Reference = {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
};

export const DOCKER_HUB = 'docker.io';

// The distribution reference grammar (distribution/reference, regexp.go; what docker and containers/image accept):
//   reference := name [ ":" tag ] [ "@" digest ];  name := [ domain "/" ] path-component [ "/" path-component ]*
//   path-component := [a-z0-9]+ ( ( [._] | "__" | "-"* ) [a-z0-9]+ )*;  tag := [\w][\w.-]{0,127}
//   domain := host [ ":" port ];  digest := algorithm ":" hex{32,};  len(name) <= 255.
// Stricter than the grammar where it is silent: a port is 1-65535, a sha256 digest is 64 lower-case hex (OCI).
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[a-fA-F0-9]{32,}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::(\d+))?$/;
const NAME_MAX = 255;
// eslint-disable-next-line no-control-regex -- looking for control characters is the point
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]/;

// True when the first path segment names a registry host rather than a Docker Hub namespace.
function looksLikeHost(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment === 'localhost' || segment.startsWith('[');
}

// JSON quoting shows the input exactly, control characters escaped; one past any valid length is cut (quoteValue).
function invalid(input: string, why: string, hint?: string): KkoError {
  return new KkoError(
    'INVALID_REFERENCE',
    `invalid image reference ${quoteValue(input, 512)}: ${why}`,
    hint ? { hint } : undefined,
  );
}

function checkDigest(input: string, digest: string): void {
  const ok = DIGEST.test(digest) && (!digest.startsWith('sha256:') || /^sha256:[a-f0-9]{64}$/.test(digest));
  if (!ok) throw invalid(input, `bad digest ${quoteValue(digest)}`, 'a digest looks like sha256:<64 lower-case hex>');
}

function checkHost(input: string, registry: string): void {
  const m = HOST.exec(registry);
  if (!m)
    throw invalid(
      input,
      `bad registry host ${quoteValue(registry)}`,
      'a registry is host[:port], e.g. registry.example.com:5000',
    );
  const port = m[1] === undefined ? undefined : Number(m[1]);
  if (port !== undefined && !(port >= 1 && port <= 65535))
    throw invalid(input, `registry port ${m[1]} is not from 1 to 65535`, 'check the registry host:port');
}

function checkComponent(input: string, part: string): void {
  if (COMPONENT.test(part)) return;
  if (COMPONENT.test(part.toLowerCase()))
    throw invalid(
      input,
      `repository ${quoteValue(part)} must be lowercase`,
      'registries only accept lower-case repository names',
    );
  throw invalid(
    input,
    `bad path component ${quoteValue(part)}`,
    'repository names are lower-case letters, digits and . _ - separators',
  );
}

// Parse "registry/ns/name:tag@sha256:…" with Docker's defaults (docker.io, library/, no implicit tag).
export function parseReference(input: string): Reference {
  if (input === '') throw invalid(input, 'empty');
  const bad = SPACE_OR_CONTROL.exec(input);
  if (bad) {
    const what = /\s/.test(bad[0]) && bad[0] >= ' ' ? 'whitespace' : 'a control character';
    throw invalid(
      input,
      `${what} at position ${bad.index + 1}`,
      'an image reference has no spaces, tabs, line breaks or control characters',
    );
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(input, digest);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw invalid(
        input,
        `bad tag ${quoteValue(tag)}`,
        'a tag is up to 128 letters, digits, _ . and -, not starting with . or -',
      );
  }
  if (rest.length > NAME_MAX)
    throw invalid(
      input,
      `name is ${rest.length} characters, more than ${NAME_MAX}`,
      'registries refuse repository names longer than 255 characters',
    );
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeHost(parts[0] ?? '')) {
    registry = parts.shift() as string;
    checkHost(input, registry);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const part of parts) checkComponent(input, part);
  const ref: { registry: string; repository: string; tag?: string; digest?: string } = {
    registry,
    repository: parts.join('/'),
  };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

// The fully qualified string form: registry/repository[:tag][@digest]. parseReference(formatReference(r)) deep-equals r.
export function formatReference(ref: Reference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

// The last path segment of the repository ("calico/node" -> "node"); kk's cn mirror flattens to it.
export function repositoryName(ref: Reference): string {
  const segs = ref.repository.split('/');
  return segs[segs.length - 1] as string;
}

// kk's validateImageName: at least registry/namespace/name, and exactly one ":" (a tag) in the last segment.
// Returns a reason when `raw` is not acceptable to kk v3, undefined otherwise.
export function kkImageNameProblem(raw: string): string | undefined {
  const parts = raw.split('/');
  if (raw.includes('@')) return 'kk does not accept digests in manifest images; use a tag';
  if (parts.length < 3) return 'kk needs a fully qualified name with at least 3 segments (registry/namespace/name)';
  const last = parts[parts.length - 1] as string;
  const colons = last.split(':').length - 1;
  if (colons !== 1) return 'kk needs exactly one tag (":<tag>") in the last segment';
  return undefined;
}
