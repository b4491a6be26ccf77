import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { BlobCache } from '../cache/index.js';
import type { BinaryItem, Catalog } from '../catalog/index.js';
import { isKkoError, KkoError } from '../errors.js';
import { resolveDownloadSources, type DownloadRule, type DownloadSource } from '../mirror/index.js';
import { parseDigest, type Digest } from '../reference/index.js';
import { nearestVersions } from '../util/version.js';
import { firstSuccessful, type Candidate } from './fallback.js';
import { withoutUserinfo } from './userinfo.js';
import { downloadToFile, tempFile } from './file-download.js';
import type { HttpDownloader } from './http-fetch.js';
import { gzipTarMember } from './tar-member.js';

// The parts of the mirror policy downloads need (an EffectivePolicy fits).
export type DownloadPolicy = {
  readonly zone?: string;
  readonly downloads: readonly DownloadRule[];
  readonly blockUpstream?: string;
};

export type DownloadDeps = {
  cache: BlobCache;
  http: HttpDownloader;
  policy: DownloadPolicy;
  catalog?: Pick<Catalog, 'checksumVersions'>; // for the "known versions" hint
  onBytes?: (n: number) => void; // network bytes, as they arrive
  onSize?: (bytes: number) => void; // the whole file's size, when a source's headers tell it (progress totals)
  signal?: AbortSignal; // Ctrl-C: requests and downloads stop, cache partials stay for a resume
};

// Where a file came from: a source of the policy, the cache (nothing fetched), the user's disk (ISO localPath), or
// nowhere: a delta export leaves it out, since its base holds it (#12 item 3).
export type SourceInfo = { url: string; via: 'mirror' | 'upstream' | 'cache' | 'local' | 'base' };

export type FetchedBinary = {
  item: BinaryItem;
  sha256: string; // hex, of the file as stored (helm: the extracted binary)
  path: string; // the verified file in the cache; the artifact stores it at item.path
  source: SourceInfo;
  fetchedBytes: number; // network bytes for this item, failed sources included
};

const HELM_CN = 'https://kubernetes-helm.pek3b.qingstor.com';

// kk's KKZONE=cn helm source: the raw binary on QingStor, not get.helm.sh's tarball (kubekey.md §3.3).
export function helmCnUrl(item: Pick<BinaryItem, 'arch' | 'version'>): string {
  return `${HELM_CN}/linux-${item.arch}/${item.version}/helm`;
}

function candidate(s: DownloadSource, archive: boolean): Candidate {
  return { ...s, archive };
}

// The ordered sources of a binary. helm in the cn zone tries kk's raw QingStor binary first (also through the policy),
// then the tarball's sources: the zone file cannot express it as a prefix rule because the file differs.
export function binaryCandidates(item: BinaryItem, policy: DownloadPolicy): Candidate[] {
  const main = resolveDownloadSources(item.url, policy).map((s) => candidate(s, item.extract !== undefined));
  if (item.id !== 'helm' || policy.zone !== 'cn') return main;
  return [
    ...resolveDownloadSources(helmCnUrl(item), policy, { optional: true }).map((s) => candidate(s, false)),
    ...main,
  ];
}

// The catalog sha256 of a binary; kk's "No SHA256 found" is an error here too, with the versions that have one.
export function binaryDigest(item: BinaryItem, catalog?: Pick<Catalog, 'checksumVersions'>): Digest {
  if (item.sha256 !== undefined) return parseDigest(`sha256:${item.sha256}`);
  const known = catalog?.checksumVersions(item.component, item.arch) ?? [];
  throw new KkoError(
    'UNKNOWN_VERSION',
    `No SHA256 found for ${item.id} ${item.version} (${item.arch}): the catalog has no checksum for it, so it cannot be verified`,
    {
      hint:
        known.length > 0
          ? `${item.component} versions with a checksum for ${item.arch}: ${summarize(item.version, known)}`
          : `the catalog has no ${item.component} checksums for ${item.arch}`,
    },
  );
}

// Fail before any download when a binary has no catalog checksum; names every such binary.
export function assertBinaryChecksums(items: readonly BinaryItem[], catalog?: Pick<Catalog, 'checksumVersions'>): void {
  const missing = items.filter((i) => i.sha256 === undefined);
  const first = missing[0];
  if (!first) return;
  try {
    binaryDigest(first, catalog);
  } catch (err) {
    if (missing.length === 1 || !(err instanceof KkoError)) throw err;
    const list = missing.map((i) => `${i.id} ${i.version} (${i.arch})`).join(', ');
    throw new KkoError(
      'UNKNOWN_VERSION',
      `No SHA256 found for ${missing.length} binaries: ${list}`,
      err.hint ? { hint: `${first.id}: ${err.hint}` } : undefined,
    );
  }
}

function summarize(wanted: string, known: readonly string[]): string {
  if (known.length <= 12) return known.join(', ');
  return `nearest ${nearestVersions(wanted, known).join(', ')} (${known.length} in all, ${known[0]} … ${known[known.length - 1]})`;
}

// Fetch one kk binary into the cache under its catalog sha256, trying the sources in order: a failing or
// corrupt source moves on to the next. A re-run with the binary cached fetches nothing.
export async function fetchBinary(item: BinaryItem, deps: DownloadDeps): Promise<FetchedBinary> {
  const digest = binaryDigest(item, deps.catalog);
  const sha256 = digest.slice('sha256:'.length);
  const path = deps.cache.blobPath(digest);
  if (await deps.cache.hasVerified({ digest }))
    return { item, sha256, path, source: { url: withoutUserinfo(item.url), via: 'cache' }, fetchedBytes: 0 };
  const counter = { bytes: 0 };
  const onBytes = (n: number): void => {
    counter.bytes += n;
    deps.onBytes?.(n);
  };
  return firstSuccessful(
    binaryCandidates(item, deps.policy),
    `downloading ${item.id} ${item.version} (${item.arch})`,
    async (c) => {
      if (c.archive) await ensureFromArchive(c, item.extract as string, digest, deps, onBytes, `binary ${item.path}`);
      else await ensureRaw(c, digest, deps, onBytes, `binary ${item.path}`);
      return { item, sha256, path, source: { url: withoutUserinfo(c.url), via: c.via }, fetchedBytes: counter.bytes };
    },
    deps.signal,
  );
}

// A raw file straight into the cache (Range resume across resets and runs).
export async function ensureRaw(
  c: Candidate,
  digest: Digest,
  deps: DownloadDeps,
  onBytes: (n: number) => void,
  what: string,
): Promise<void> {
  const hadPartial = await stat(deps.cache.partialPath(digest)).then(
    () => true,
    () => false,
  );
  const fetcher = (offset: number) => deps.http.open(c, offset, deps.signal, deps.onSize);
  try {
    await deps.cache.ensure({ digest }, fetcher, { onBytes, signal: deps.signal, what });
  } catch (err) {
    // Bytes left by an earlier run or source may be what did not match; the cache dropped them: start afresh once.
    if (!hadPartial || !isKkoError(err) || err.code !== 'DIGEST_MISMATCH') throw err;
    await deps.cache.ensure({ digest }, fetcher, { onBytes, signal: deps.signal, what });
  }
}

// An archive (helm's tarball) has no known digest: download it to a temp file, then stream the member
// through gunzip + a tar scan into the cache, where the member's catalog sha256 is checked.
async function ensureFromArchive(
  c: Candidate,
  member: string,
  digest: Digest,
  deps: DownloadDeps,
  onBytes: (n: number) => void,
  what: string,
): Promise<void> {
  const tmp = await tempFile(deps.cache, posix.basename(new URL(c.url).pathname));
  try {
    await downloadToFile((offset) => deps.http.open(c, offset, deps.signal, deps.onSize), tmp, {
      onBytes,
      signal: deps.signal,
    });
    await deps.cache.ensure({ digest }, async (offset) => gzipTarMember(createReadStream(tmp), member, offset), {
      signal: deps.signal,
      what: `${what} (${member} in the archive)`,
    });
  } finally {
    await rm(tmp, { force: true });
  }
}
