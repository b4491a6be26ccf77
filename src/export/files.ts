import { stat } from 'node:fs/promises';
import type { TarEntry } from '../archive/tar.js';
import { ALREADY_COMPRESSED, type HaveList, type Inventory } from '../artifact-format/index.js';
import type { BlobCache } from '../cache/index.js';
import {
  fetchBinary,
  fetchIso,
  withoutUserinfo,
  type DownloadPlan,
  type FetchedBinary,
  type FetchedIso,
  type HttpDownloader,
} from '../download/index.js';
import type { EffectivePolicy } from '../mirror/index.js';
import type { EventSink } from './events.js';

// A binary or an ISO: one file at a kk artifact path.
export type FileTask =
  { kind: 'binary'; item: DownloadPlan['binaries'][number] } | { kind: 'iso'; item: DownloadPlan['isos'][number] };
// `size`: bytes of the verified file the archive stores (the inventory records it, so a reader can refuse a wrong
// entry from its header alone).
export type FetchedFile =
  { kind: 'binary'; result: FetchedBinary; size: number } | { kind: 'iso'; result: FetchedIso; size: number };

export function fileTasks(plan: DownloadPlan | undefined): FileTask[] {
  return [
    ...(plan?.binaries ?? []).map((item) => ({ kind: 'binary' as const, item })),
    ...(plan?.isos ?? []).map((item) => ({ kind: 'iso' as const, item })),
  ];
}

// Fetch one file through the download policy into the cache, reporting progress as events.
export async function fetchFile(
  task: FileTask,
  deps: {
    cache: BlobCache;
    http: HttpDownloader;
    policy: EffectivePolicy;
    emit: EventSink;
    baseDir?: string;
    signal?: AbortSignal;
  },
): Promise<FetchedFile> {
  const onBytes = (n: number): void =>
    deps.emit({ type: 'bytes', ref: task.item.path, arch: task.item.arch, fetched: n });
  const onSize = (size: number): void =>
    deps.emit({ type: 'file-size', path: task.item.path, arch: task.item.arch, size });
  const d = {
    cache: deps.cache,
    http: deps.http,
    policy: deps.policy,
    onBytes,
    onSize,
    ...(deps.baseDir ? { baseDir: deps.baseDir } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
  if (task.kind === 'binary') {
    const result = await fetchBinary(task.item, d);
    return { kind: 'binary', result, size: (await stat(result.path)).size };
  }
  const result = await fetchIso(task.item, d);
  if (!result.verified)
    deps.emit({
      type: 'warning',
      message: `${task.item.path}: no checksum in the manifest, so the ISO was not verified against a published value`,
    });
  return { kind: 'iso', result, size: (await stat(result.path)).size };
}

// #12 item 3: a file a delta leaves out is not downloaded. The far side holds it at the same path with the sha256
// the export would check it against (a binary's catalog sha256, an ISO's manifest checksum); its size is the
// have-list's. An ISO without a checksum is downloaded (its sha256 is only known then). The result has no cache path:
// deltaCut leaves exactly these files out of the archive.
export function heldFile(task: FileTask, have: HaveList): FetchedFile | undefined {
  const want = task.kind === 'binary' ? task.item.sha256 : task.item.checksum?.slice('sha256:'.length);
  const held = have.files.find((f) => f.path === task.item.path);
  if (want === undefined || held?.sha256 !== want) return undefined;
  const url = task.kind === 'binary' ? task.item.url : (task.item.url ?? task.item.localPath ?? '');
  const common = {
    sha256: want,
    path: '',
    source: { url: withoutUserinfo(url), via: 'base' as const },
    fetchedBytes: 0,
  };
  return task.kind === 'binary'
    ? { kind: 'binary', result: { item: task.item, ...common }, size: held.size }
    : { kind: 'iso', result: { item: task.item, ...common, verified: true }, size: held.size };
}

// Archive entries of the fetched files, at kk's paths, with their known sha256.
export function fileEntries(files: readonly FetchedFile[]): TarEntry[] {
  return files.map((f) => ({
    name: f.result.item.path,
    file: f.result.path,
    sha256: f.result.sha256,
    ...(ALREADY_COMPRESSED.test(f.result.item.path) ? { compressed: true } : {}),
  }));
}

// Inventory rows: path, sha256, where it came from.
export function fileRows(files: readonly FetchedFile[]): Required<Pick<Inventory, 'binaries' | 'isos'>> {
  const sorted = [...files].sort((a, b) => (a.result.item.path < b.result.item.path ? -1 : 1));
  const binaries = sorted
    .filter((f) => f.kind === 'binary')
    .map((f) => {
      const r = (f as { result: FetchedBinary }).result;
      return {
        id: r.item.id,
        component: r.item.component,
        version: r.item.version,
        arch: r.item.arch,
        path: r.item.path,
        sha256: r.sha256,
        size: f.size,
        url: withoutUserinfo(r.item.url),
      };
    });
  const isos = sorted
    .filter((f) => f.kind === 'iso')
    .map((f) => {
      const r = (f as { result: FetchedIso }).result;
      return {
        id: r.item.id,
        version: r.item.version,
        arch: r.item.arch,
        path: r.item.path,
        sha256: r.sha256,
        size: f.size,
        verified: r.verified,
        ...(r.item.url ? { url: withoutUserinfo(r.item.url) } : {}),
      };
    });
  return { binaries, isos };
}
