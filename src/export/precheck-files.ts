import type { BlobCache } from '../cache/index.js';
import {
  binaryCandidates,
  binaryDigest,
  firstSuccessful,
  isoCandidates,
  withoutUserinfo,
  type DownloadPlan,
  type HttpDownloader,
} from '../download/index.js';
import { isKkoError } from '../errors.js';
import type { EffectivePolicy } from '../mirror/index.js';
import type { Catalog } from '../catalog/index.js';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mapLimit } from '../util/concurrency.js';
import { SourcesExhaustedError } from '../util/sources.js';

export type PrecheckFile = {
  path: string;
  ok: boolean;
  cached?: boolean;
  source?: string;
  via?: string;
  code?: string;
  message?: string;
};

type Deps = {
  limit: number;
  cache: BlobCache;
  http: HttpDownloader;
  policy: EffectivePolicy;
  catalog?: Pick<Catalog, 'checksumVersions'>;
  signal?: AbortSignal | undefined;
};

function failed(path: string, error: unknown): PrecheckFile {
  const message =
    error instanceof SourcesExhaustedError ? error.detail : error instanceof Error ? error.message : String(error); // the row names the file
  return { path, ok: false, code: isKkoError(error) ? error.code : 'NETWORK_ERROR', message };
}

// Reachable: the first source that answers 2xx (its body is cancelled after the headers).
async function probe(
  deps: Deps,
  what: string,
  candidates: Parameters<typeof firstSuccessful>[0],
): Promise<{ url: string; via: string }> {
  return firstSuccessful(
    candidates,
    what,
    async (c) => {
      await deps.http.probe(c, deps.signal);
      return { url: c.url, via: c.via };
    },
    deps.signal,
  );
}

// Every binary has a catalog checksum and is in the cache or reachable through the policy; every ISO likewise
// (a localPath must exist). No file body is downloaded.
export async function precheckFiles(plan: DownloadPlan, deps: Deps): Promise<PrecheckFile[]> {
  const binary = async (item: DownloadPlan['binaries'][number]): Promise<PrecheckFile> => {
    try {
      const digest = binaryDigest(item, deps.catalog);
      if (await deps.cache.has({ digest })) return { path: item.path, ok: true, cached: true };
      const s = await probe(deps, `binary ${item.path}`, binaryCandidates(item, deps.policy));
      return { path: item.path, ok: true, source: withoutUserinfo(s.url), via: s.via };
    } catch (error) {
      return failed(item.path, error);
    }
  };
  const isoRow = async (iso: DownloadPlan['isos'][number]): Promise<PrecheckFile> => {
    try {
      if (iso.url) {
        const s = await probe(deps, `ISO ${iso.path}`, isoCandidates(iso.url, deps));
        return { path: iso.path, ok: true, source: withoutUserinfo(s.url), via: s.via };
      }
      const local = resolve(iso.baseDir ?? '.', iso.localPath ?? '');
      await access(local);
      return { path: iso.path, ok: true, source: local, via: 'local' };
    } catch (error) {
      return failed(iso.path, error);
    }
  };
  // At most `limit` probes at once; every file is tried (each row catches its own error); an abort stops them all.
  const rows = await mapLimit(
    [...plan.binaries.map((b) => () => binary(b)), ...plan.isos.map((i) => () => isoRow(i))],
    deps.limit,
    (run) => run(),
    { signal: deps.signal },
  );
  return rows.map((r) => (r?.status === 'fulfilled' ? r.value : failed('?', r?.reason)));
}
