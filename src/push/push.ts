import { synthesizeIndex } from '../artifact-store/index.js';
import type { ContentSource, ContentTarget, CopyEvent, CopyOptions, ManifestContent } from '../content/index.js';
import { copyImage } from '../copy/index.js';
import { abortReason, isKkoError } from '../errors.js';
import { formatPlatform, type Descriptor } from '../oci/index.js';
import { formatReference, parseReference, type Digest, type Reference } from '../reference/index.js';
import { mapLimit, mapLimitAll } from '../util/concurrency.js';
import { MountingTarget } from './mount.js';
import type { PlannedImage, PushPlan } from './plan.js';
import { carriedTotals, type CarriedResult } from './signatures.js';

// What a push reports as it goes (NDJSON with --json; bars on a TTY). Names are what the registry now holds.
export type PushEvent =
  // How the artifact was opened: verify 'on-read' (blobs hashed as they are sent), its index cache hit or miss.
  | {
      readonly type: 'source';
      readonly description: string;
      readonly verify: 'full' | 'on-read';
      readonly index: 'hit' | 'miss' | 'off';
      // Blobs the archive holds compressed (a .tar.gz / .tar.zst another tool wrote): sent by a second pass in order.
      readonly sequentialBlobs?: number;
    }
  | { readonly type: 'plan'; readonly images: number; readonly manifests: number; readonly bytes: number }
  | {
      readonly type: 'image-start';
      readonly name: string;
      readonly platforms: readonly string[];
      readonly size: number;
    }
  | {
      readonly type: 'blob';
      readonly name: string;
      readonly digest: Digest;
      readonly size: number;
      readonly how: 'present' | 'copied';
    }
  | { readonly type: 'bytes'; readonly name: string; readonly bytes: number }
  | {
      readonly type: 'image-done';
      readonly name: string;
      readonly digest: Digest;
      readonly tags: readonly string[];
      readonly bytesSent: number;
    }
  | { readonly type: 'image-failed'; readonly name: string; readonly code: string; readonly message: string }
  // A signature or referrer the artifact carries (PushOptions.carried), after every image, before done.
  | ({ readonly type: 'carried' } & CarriedResult)
  | {
      readonly type: 'done';
      readonly images: number;
      readonly failed: number;
      readonly bytesSent: number;
      readonly mounted: number;
      readonly seconds: number;
      readonly sourceBytesRead?: number; // blob bytes read from the artifact (PushOptions.sourceBytesRead)
      // With PushOptions.carried: kind → outcome → count ({signature: {pushed: 2}, referrer: {present: 1}}).
      readonly carried?: Record<string, Record<string, number>>;
    };

export type PushOptions = {
  readonly concurrency?: number; // images in flight (default 4)
  readonly blobConcurrency?: number; // blobs in flight per image (default 4)
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: PushEvent) => void;
  readonly now?: () => number;
  // Blob bytes the source has read so far (ArtifactStore.stats), reported in the done event.
  readonly sourceBytesRead?: () => number;
  // --preserve-digests: index name → the upstream index (by digest in src) put there instead of a synthesized one.
  readonly upstreamIndexes?: ReadonlyMap<string, Digest>;
  // Runs after the plan event, before any image, on the push's target (the MountingTarget every image then uses):
  // the sequential pass of an archive whose blobs are read only in order (stream.ts). Its blob events, reported
  // through `sink` named by image, count in the report's bytesSent.
  readonly prepass?: (dst: ContentTarget, sink: (name: string, e: CopyEvent) => void) => Promise<void>;
  // Default true: a name whose tag already resolves to exactly the digest this push would put there is not copied
  // again (CopyOptions.skipTagged). false (--recheck): HEAD every blob and put every manifest again.
  readonly skipTagged?: boolean;
  // Runs once every image is in (none failed), before the done event: the signatures and referrers the artifact
  // carries (signatures.ts pushCarried), each reported as a carried event and counted in done and the report.
  readonly carried?: () => Promise<readonly CarriedResult[]>;
};

// One name created: the index nodes pull and the per-arch tags under it.
export type PushedImage = {
  readonly name: string;
  readonly source: string;
  readonly digest: Digest;
  readonly tags: readonly string[];
  readonly platforms: readonly string[];
};
export type PushFailure = { readonly name: string; readonly source: string; readonly error: unknown };
export type PushReport = {
  readonly pushed: readonly PushedImage[];
  readonly failures: readonly PushFailure[];
  readonly bytesSent: number;
  readonly mounted: number;
  readonly seconds: number;
  readonly carried: readonly CarriedResult[]; // PushOptions.carried's results ([] without it, or when an image failed)
};

// A blob step of copyImage as push events of the image `name`.
function blobEvent(emit: (e: PushEvent) => void, name: string, e: CopyEvent): void {
  if (e.kind === 'blob-bytes') emit({ type: 'bytes', name, bytes: e.bytes });
  else if (e.kind === 'blob-present' || e.kind === 'blob-copied')
    emit({ type: 'blob', name, digest: e.digest, size: e.size, how: e.kind === 'blob-present' ? 'present' : 'copied' });
}

const sizeOf = (img: PlannedImage): number => img.children.reduce((n, c) => n + (c.entry.size ?? 0), 0);

// One image: each arch copied to <name>:<tag>-<arch> (blobs first, then its manifest), then the multi-arch index over
// exactly those manifests put at <name>:<tag>. Nothing is tagged before everything it points at is in.
async function pushImage(
  src: ContentSource,
  dst: ContentTarget,
  img: PlannedImage,
  opts: PushOptions,
): Promise<PushedImage> {
  const name = formatReference(img.target);
  const emit = opts.onEvent ?? (() => undefined);
  let bytesSent = 0;
  const onEvent = (e: CopyEvent): void => {
    if (e.kind === 'blob-bytes') bytesSent += e.bytes;
    blobEvent(emit, name, e);
  };
  const children: Array<{ suffix: string; descriptor: Descriptor }> = [];
  const copy = {
    onEvent,
    skipTagged: opts.skipTagged ?? true,
    ...(opts.blobConcurrency ? { concurrency: opts.blobConcurrency } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  // The arches go up side by side (a blob two of them share is sent once: MountingTarget makes the second wait and
  // mount), so the last image of a push does not leave the link idle while its arches take turns.
  const copied = await mapLimitAll(
    img.children,
    img.children.length,
    (c) => copyImage(src, parseReference(c.entry.refName), dst, c.target, copy),
    { signal: opts.signal },
  );
  for (const [i, c] of img.children.entries()) {
    const r = copied[i] as Awaited<ReturnType<typeof copyImage>>;
    children.push({
      suffix: c.target.tag as string,
      descriptor: { mediaType: r.mediaType, digest: r.digest, size: r.size, platform: c.platform },
    });
  }
  const upstream = opts.upstreamIndexes?.get(name);
  const digest = upstream
    ? await putUpstreamIndex(src, dst, img, upstream, copy)
    : await putIndex(
        dst,
        img.target,
        synthesizeIndex({
          repo: `${img.target.registry}/${img.target.repository}`,
          tag: img.target.tag as string,
          arches: children,
        }),
        copy,
      );
  const tags = img.children.map((c) => formatReference(c.target));
  emit({ type: 'image-done', name, digest, tags, bytesSent });
  return { name, source: img.source, digest, tags, platforms: img.children.map((c) => formatPlatform(c.platform)) };
}

// The synthesized index at the index name; with skipTagged a HEAD first, and no PUT when the tag already holds exactly
// these bytes (its digest).
async function putIndex(
  dst: ContentTarget,
  ref: Reference,
  index: ManifestContent,
  copy: CopyOptions,
): Promise<Digest> {
  const so = copy.signal ? { signal: copy.signal } : {};
  if (copy.skipTagged) {
    const have = await dst.headManifest(ref, so).catch((err: unknown) => {
      copy.signal?.throwIfAborted();
      if (isKkoError(err) && err.code === 'INTERRUPTED') throw err;
      return undefined;
    });
    if (have?.digest === index.digest) return index.digest;
  }
  return dst.putManifest(ref, index, so);
}

// The upstream index itself at the index name (same digest as upstream): copied by digest, so every manifest it
// lists (the exported arches, already in; any other the artifact kept) goes in first, and the digest is checked.
async function putUpstreamIndex(
  src: ContentSource,
  dst: ContentTarget,
  img: PlannedImage,
  digest: Digest,
  copy: CopyOptions,
): Promise<Digest> {
  const source = parseReference(img.source);
  const r = await copyImage(
    src,
    { registry: source.registry, repository: source.repository, digest },
    dst,
    img.target,
    copy,
  );
  return r.digest;
}

// Push every image of the plan, `concurrency` at a time; blobs the target has are skipped (HEAD), blobs another
// repository of it holds are mounted. A failed image is reported, the others finish; an interruption stops all.
export async function pushImages(
  src: ContentSource,
  target: ContentTarget,
  plan: PushPlan,
  opts: PushOptions = {},
): Promise<PushReport> {
  const now = opts.now ?? Date.now;
  const start = now();
  const dst = new MountingTarget(target);
  const emit = opts.onEvent ?? (() => undefined);
  emit({
    type: 'plan',
    images: plan.images.length,
    manifests: plan.images.reduce((n, i) => n + i.children.length, 0),
    bytes: plan.images.reduce((n, i) => n + sizeOf(i), 0),
  });
  const pushed: PushedImage[] = [];
  const failures: PushFailure[] = [];
  let bytesSent = 0;
  const count = (e: PushEvent): void => (e.type === 'bytes' && (bytesSent += e.bytes), emit(e));
  await opts.prepass?.(dst, (name, e) => blobEvent(count, name, e));
  await mapLimit(
    plan.images,
    opts.concurrency ?? 4,
    async (img) => {
      const name = formatReference(img.target);
      emit({
        type: 'image-start',
        name,
        platforms: img.children.map((c) => formatPlatform(c.platform)),
        size: sizeOf(img),
      });
      try {
        const done = await pushImage(src, dst, img, {
          ...opts,
          onEvent: count,
        });
        pushed.push(done);
      } catch (err) {
        const error = abortReason(err, opts.signal);
        if (opts.signal?.aborted) throw error;
        failures.push({ name, source: img.source, error });
        emit({
          type: 'image-failed',
          name,
          code: isKkoError(error) ? error.code : 'INTERNAL',
          message: error instanceof Error ? error.message : String(error),
        });
      }
    },
    { signal: opts.signal },
  );
  opts.signal?.throwIfAborted();
  const carried = opts.carried && failures.length === 0 ? await opts.carried() : [];
  for (const c of carried) emit({ type: 'carried', ...c });
  const seconds = (now() - start) / 1000;
  const read = opts.sourceBytesRead?.();
  emit({
    type: 'done',
    images: pushed.length,
    failed: failures.length,
    bytesSent,
    mounted: dst.mounted,
    seconds,
    ...(read !== undefined ? { sourceBytesRead: read } : {}),
    ...(opts.carried ? { carried: carriedTotals(carried, (c) => c.how) } : {}),
  });
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    pushed: pushed.sort(byName),
    failures: failures.sort(byName),
    bytesSent,
    mounted: dst.mounted,
    seconds,
    carried,
  };
}
