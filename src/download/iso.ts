import { rm, stat } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { isKkoError, KkoError } from '../errors.js';
import type { KkManifest } from '../manifest/index.js';
import { resolveDownloadSources } from '../mirror/index.js';
import { sha256ChecksumOf, type Digest } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';
import { ensureRaw, type DownloadDeps, type SourceInfo } from './binaries.js';
import { firstSuccessful, type Candidate } from './fallback.js';
import { withoutUserinfo } from './userinfo.js';
import { hashFile } from '../cache/index.js';
import { downloadToFile, tempFile } from './file-download.js';

export type OsEntry = NonNullable<KkManifest['spec']['operatingSystems']>[number];

// One OS repository ISO of a manifest (operatingSystems[].repository.iso).
export type IsoItem = {
  id: string;
  version: string;
  arch: string;
  path: string; // in the artifact: repository/<arch>/<id>/<version>/<id>-<version>-<arch>.iso
  url?: string; // kk: a url wins over localPath
  localPath?: string; // as written; relative to baseDir
  baseDir?: string; // the manifest's folder
  checksum?: Digest;
};

export type FetchedIso = {
  item: IsoItem;
  sha256: string;
  path: string; // the cache file, or the user's localPath file (not copied)
  verified: boolean; // false: no checksum was given, so nothing published was compared (callers warn)
  source: SourceInfo;
  fetchedBytes: number;
};

export type IsoDeps = DownloadDeps & { baseDir?: string };

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

// kk's ISO path inside the artifact (kubekey.md §3.5); the parts become path segments, so they must be plain names
// that fit in one (NAME_MAX: 255 bytes).
const MAX_SEGMENT = 255;
export function isoPath(os: Pick<OsEntry, 'arch' | 'id' | 'version'>): string {
  for (const [key, value] of [
    ['arch', os.arch],
    ['id', os.id],
    ['version', os.version],
  ] as const) {
    if (!SEGMENT.test(value) || value.includes('..') || value.length > MAX_SEGMENT) {
      throw new KkoError(
        'INVALID_INPUT',
        `operatingSystems ${key} ${quoteValue(value)} cannot be part of the ISO path`,
        {
          hint: `use letters, digits, ".", "_", "+" and "-" only, at most ${MAX_SEGMENT} of them`,
        },
      );
    }
  }
  return `repository/${os.arch}/${os.id}/${os.version}/${os.id}-${os.version}-${os.arch}.iso`;
}

const ISO_CHECKSUM_HINT =
  'give 64 hex digits, optionally prefixed with "sha256:" (or the line of the ISO\'s .sha256sum.txt)';

// iso.checksum as "sha256:<hex>", "<hex>", or a sha256sum line "<hex>  <name>" (what official ISOs publish).
export function parseIsoChecksum(raw: string, where: string): Digest {
  const digest = sha256ChecksumOf(raw);
  if (!digest)
    throw new KkoError('INVALID_INPUT', `${where}: ${quoteValue(raw)} is not a sha256 checksum`, {
      hint: ISO_CHECKSUM_HINT,
    });
  return digest;
}

// The ISO item of one manifest OS entry, or undefined when it has neither url nor localPath.
export function planIso(os: OsEntry, baseDir?: string): IsoItem | undefined {
  const iso = os.repository?.iso;
  if (!iso || (!iso.url && !iso.localPath)) return undefined;
  const item: IsoItem = { id: os.id, version: os.version, arch: os.arch, path: isoPath(os) };
  if (iso.url) item.url = iso.url;
  if (iso.localPath) item.localPath = iso.localPath;
  if (baseDir !== undefined) item.baseDir = baseDir;
  if (iso.checksum)
    item.checksum = parseIsoChecksum(iso.checksum, `${os.id} ${os.version} ${os.arch}: repository.iso.checksum`);
  return item;
}

// Fetch an ISO: a url through the mirror policy (by its checksum into the cache, or hashed after download when
// there is none), else the localPath file, hashed in place. A given checksum must match (kk never checks).
export async function fetchIso(item: IsoItem, deps: IsoDeps): Promise<FetchedIso> {
  if (item.url)
    return item.checksum ? fetchVerified(item, item.url, item.checksum, deps) : fetchUnverified(item, item.url, deps);
  if (item.localPath) return useLocal(item, resolve(item.baseDir ?? deps.baseDir ?? '.', item.localPath));
  throw new KkoError('INVALID_INPUT', `ISO ${item.path}: neither url nor localPath is set`);
}

// The ordered sources of an ISO url: the mirror policy's rewrite.
export function isoCandidates(url: string, deps: { policy: IsoDeps['policy'] }): Candidate[] {
  return resolveDownloadSources(url, deps.policy).map((s) => ({ ...s, archive: false }));
}

function counting(deps: IsoDeps): { counter: { bytes: number }; onBytes: (n: number) => void } {
  const counter = { bytes: 0 };
  const onBytes = (n: number): void => {
    counter.bytes += n;
    deps.onBytes?.(n);
  };
  return { counter, onBytes };
}

async function fetchVerified(item: IsoItem, url: string, digest: Digest, deps: IsoDeps): Promise<FetchedIso> {
  const done = (source: SourceInfo, fetchedBytes: number): FetchedIso => ({
    item,
    sha256: digest.slice(7),
    path: deps.cache.blobPath(digest),
    verified: true,
    source,
    fetchedBytes,
  });
  if (await deps.cache.hasVerified({ digest })) return done({ url: withoutUserinfo(url), via: 'cache' }, 0);
  const { counter, onBytes } = counting(deps);
  try {
    return await firstSuccessful(
      isoCandidates(url, deps),
      `downloading ISO ${item.path}`,
      async (c) => {
        await ensureRaw(c, digest, deps, onBytes, `ISO ${item.path}`);
        return done({ url: withoutUserinfo(c.url), via: c.via }, counter.bytes);
      },
      deps.signal,
    );
  } catch (err) {
    if (!isKkoError(err) || err.code !== 'DIGEST_MISMATCH') throw err;
    throw new KkoError(
      'CHECKSUM_MISMATCH',
      `${err.message}\nthe ISO does not match repository.iso.checksum ${digest}`,
      {
        cause: err,
        hint: 'check the checksum in the manifest (official kk ISOs publish <name>.iso.sha256sum.txt next to the ISO)',
      },
    );
  }
}

async function fetchUnverified(item: IsoItem, url: string, deps: IsoDeps): Promise<FetchedIso> {
  const { counter, onBytes } = counting(deps);
  return firstSuccessful(
    isoCandidates(url, deps),
    `downloading ISO ${item.path}`,
    async (c) => {
      const tmp = await tempFile(deps.cache, posix.basename(new URL(c.url).pathname));
      try {
        await downloadToFile((offset) => deps.http.open(c, offset, deps.signal, deps.onSize), tmp, {
          onBytes,
          signal: deps.signal,
        });
        const { digest } = await hashFile(tmp);
        const path = await deps.cache.adopt(tmp, digest);
        return {
          item,
          sha256: digest.slice(7),
          path,
          verified: false,
          source: { url: withoutUserinfo(c.url), via: c.via },
          fetchedBytes: counter.bytes,
        };
      } finally {
        await rm(tmp, { force: true });
      }
    },
    deps.signal,
  );
}

async function useLocal(item: IsoItem, file: string): Promise<FetchedIso> {
  const st = await stat(file).catch((err: unknown) => {
    throw new KkoError(
      'FILE_NOT_FOUND',
      `ISO ${item.path}: localPath ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  });
  if (!st.isFile()) throw new KkoError('INVALID_INPUT', `ISO ${item.path}: localPath ${file} is not a regular file`);
  const { digest } = await hashFile(file);
  if (item.checksum && digest !== item.checksum) {
    throw new KkoError(
      'CHECKSUM_MISMATCH',
      `ISO ${item.path}: localPath ${file} has ${digest}, repository.iso.checksum says ${item.checksum}`,
      {
        hint: 'the file is not the ISO the manifest names, or the checksum is wrong',
      },
    );
  }
  return {
    item,
    sha256: digest.slice(7),
    path: file,
    verified: item.checksum !== undefined,
    source: { url: file, via: 'local' },
    fetchedBytes: 0,
  };
}
