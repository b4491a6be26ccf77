import { KkoError } from '../errors.js';

// An image reference, parsed once at the edge. `registry` is a host[:port]; `repository` has no registry part.
export type Reference = {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
};

export const DOCKER_HUB = 'docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

// True when the first path segment names a registry host rather than a Docker Hub namespace.
function looksLikeHost(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment === 'localhost' || segment.startsWith('[');
}

function invalid(input: string, why: string, hint?: string): KkoError {
  return new KkoError('INVALID_REFERENCE', `invalid image reference "${input}": ${why}`, hint ? { hint } : undefined);
}

// Parse "registry/ns/name:tag@sha256:…" with Docker's defaults (docker.io, library/, no implicit tag).
export function parseReference(input: string): Reference {
  const raw = input.trim();
  if (raw === '') throw invalid(input, 'empty');
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `bad digest "${digest}"`, 'a digest looks like sha256:<64 hex>');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `bad tag "${tag}"`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeHost(parts[0] ?? '')) {
    registry = parts.shift() as string;
    if (!HOST.test(registry)) throw invalid(input, `bad registry host "${registry}"`);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw invalid(input, `bad path component "${part}"`, 'repository names are lower-case letters, digits and . _ - separators');
    }
  }
  const ref: { registry: string; repository: string; tag?: string; digest?: string } = { registry, repository: parts.join('/') };
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
