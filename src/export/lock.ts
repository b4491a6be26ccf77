import { byteOrder } from '../util/byte-order.js';
import { KkoError } from '../errors.js';
import { resolveImageSources, type EffectivePolicy } from '../mirror/index.js';
import { parseReference } from '../reference/index.js';
import { mapLimitAll } from '../util/concurrency.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { safeText } from '../util/safe-text.js';
import { readTextFile } from '../util/yaml-doc.js';
import { resolveImage, type FetchDeps } from './fetch-image.js';
import type { ExportPlan } from './plan.js';
import { LOCK_API_VERSION, LOCK_KIND, lockSchema, type LockedImage, type ManifestLock } from './lock-schema.js';

export type { LockedImage, ManifestLock } from './lock-schema.js';
import type { PreflightContext, PreflightResult, PreflightStep } from './preflight.js';

// #12 item 4, locked manifests: every image tag of a manifest resolved (through the mirror policy, as export does) to
// the digest it pointed at: the index digest of a multi-arch image (else the manifest digest) and each arch's manifest
// digest. `kko manifest lock` writes the lock next to the manifest; `artifact export` with a lock refuses a tag that
// moved, then pulls by digest; `--update-lock` takes the new digests on purpose.

// A tag that moved (or an image or arch the lock does not have: `locked` undefined).
export type LockDrift = {
  readonly ref: string;
  readonly arch?: string;
  readonly locked?: string;
  readonly now: string;
};

// One lock file and the images it locks (one manifest's spec.images).
export type LockTarget = { readonly path: string; readonly images: readonly string[] };
export type LockOptions = { readonly targets: readonly LockTarget[]; readonly update?: boolean };

// The lock next to a manifest: manifest.yaml → manifest.lock.json (other names get .lock.json appended).
export function lockPathFor(manifestPath: string): string {
  return /\.ya?ml$/i.test(manifestPath) ? manifestPath.replace(/\.ya?ml$/i, '.lock.json') : `${manifestPath}.lock.json`;
}

function lockWith(images: LockedImage[]): ManifestLock {
  return { apiVersion: LOCK_API_VERSION, kind: LOCK_KIND, images };
}

// The lock's bytes: images by ref and arches by name in byte order, 2-space JSON, a final newline (deterministic).
export function formatLock(lock: ManifestLock): string {
  const images = [...lock.images]
    .sort((a, b) => byteOrder(a.ref, b.ref))
    .map((i) => ({ ...i, arches: Object.fromEntries(Object.entries(i.arches).sort(([a], [b]) => byteOrder(a, b))) }));
  return `${JSON.stringify({ apiVersion: LOCK_API_VERSION, kind: LOCK_KIND, images }, null, 2)}\n`;
}

// Parse a lock file's text; a malformed one is invalid input naming the field.
export function parseLock(text: string, path: string): ManifestLock {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `reading the lock ${path}: not JSON: ${safeText((err as Error).message)}`, {
      hint: 'write it again with `kko manifest lock -m MANIFEST`',
    });
  }
  const r = lockSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new KkoError(
      'INVALID_INPUT',
      `reading the lock ${path}: ${issue ? `${issue.path.join('.') || '(top)'}: ${issue.message}` : 'not a ManifestLock'}`,
      { hint: 'write it again with `kko manifest lock -m MANIFEST`' },
    );
  }
  return r.data;
}

// Read a lock file; a missing one is an empty lock when `orEmpty` (--update-lock creates it).
export async function loadLock(path: string, orEmpty = false): Promise<ManifestLock> {
  try {
    return parseLock(await readTextFile(path, 'the lock'), path);
  } catch (err) {
    if (orEmpty && err instanceof KkoError && err.code === 'FILE_NOT_FOUND') return lockWith([]);
    throw err;
  }
}

// One lock from several (one per manifest): an image locked to two digests is invalid input.
export function mergeLocks(locks: readonly ManifestLock[]): Map<string, LockedImage> {
  const out = new Map<string, LockedImage>();
  for (const img of locks.flatMap((l) => l.images)) {
    const had = out.get(img.ref);
    if (had && formatLock(lockWith([had])) !== formatLock(lockWith([img]))) {
      throw new KkoError(
        'INVALID_INPUT',
        `reading the locks: ${img.ref} is locked to ${had.digest} and to ${img.digest}`,
        { hint: 'lock the manifests again with `kko manifest lock`' },
      );
    }
    out.set(img.ref, img);
  }
  return out;
}

// The lock of what the plan's tags point at now: every image × arch resolved (manifests and config, arch checked).
export async function resolveLock(plan: ExportPlan, deps: FetchDeps, concurrency: number): Promise<ManifestLock> {
  const resolved = await mapLimitAll(plan.images, concurrency, (p) => resolveImage(p, deps), { signal: deps.signal });
  const images = new Map<string, LockedImage>();
  for (const r of resolved) {
    const top = r.index ?? r.image;
    const entry = images.get(r.planned.ref) ?? {
      ref: r.planned.ref,
      digest: top.digest,
      mediaType: top.mediaType,
      arches: {},
    };
    entry.arches[r.planned.arch] = r.image.digest;
    images.set(r.planned.ref, entry);
  }
  return lockWith([...images.values()]);
}

// What moved between the lock and now: a tag at another digest, an image or an arch the lock lacks.
export function lockDrift(locked: ReadonlyMap<string, LockedImage>, now: ManifestLock): LockDrift[] {
  const out: LockDrift[] = [];
  for (const img of [...now.images].sort((a, b) => byteOrder(a.ref, b.ref))) {
    const was = locked.get(img.ref);
    if (!was || was.digest !== img.digest) {
      out.push({ ref: img.ref, ...(was ? { locked: was.digest } : {}), now: img.digest });
      continue;
    }
    for (const [arch, d] of Object.entries(img.arches)) {
      if (was.arches[arch] !== d)
        out.push({ ref: img.ref, arch, ...(was.arches[arch] ? { locked: was.arches[arch] } : {}), now: d });
    }
  }
  return out;
}

function driftLine(d: LockDrift): string {
  const what = d.arch ? `${d.ref} (${d.arch})` : d.ref;
  return d.locked ? `${what} moved: ${d.locked} → ${d.now}` : `${what} is not in the lock (now ${d.now})`;
}

// The refusal: every tag that moved, old → new digest.
export function driftError(drift: readonly LockDrift[], paths: readonly string[]): KkoError {
  return new KkoError(
    'LOCK_DRIFT',
    `checking the lock ${paths.join(', ')}: ${drift.length} image(s) differ from it: ${drift.map(driftLine).join('; ')}`,
    {
      hint: 'nothing was downloaded; pass --update-lock to take the new digests on purpose, or find out why the tag moved',
    },
  );
}

// The plan with every image pinned to its locked digest (tag kept): the fetch pulls by digest, and the sources are
// those the mirror policy gives a digest reference (digest-only mirrors serve it too).
export function pinPlan(plan: ExportPlan, lock: ReadonlyMap<string, LockedImage>, policy: EffectivePolicy): ExportPlan {
  const images = plan.images.map((p) => {
    const locked = lock.get(p.ref);
    if (!locked) return p;
    return { ...p, sources: resolveImageSources({ ...parseReference(p.ref), digest: locked.digest }, policy) };
  });
  return { ...plan, images };
}

// The lock of one target: its own images out of `now`.
export function lockOf(now: ManifestLock, images: readonly string[]): ManifestLock {
  const want = new Set(images);
  return { ...now, images: now.images.filter((i) => want.has(i.ref)) };
}

// Write each target's lock; returns the paths whose bytes changed.
export async function writeLocks(targets: readonly LockTarget[], now: ManifestLock): Promise<string[]> {
  const changed: string[] = [];
  for (const t of targets) {
    const text = formatLock(lockOf(now, t.images));
    const old = await readTextFile(t.path, 'the lock').catch(() => undefined);
    if (old === text) continue;
    await writeFileAtomic(t.path, text);
    changed.push(t.path);
  }
  return changed;
}

// The export step: resolve every tag, refuse drift (or, with update, rewrite the locks), then pin the plan.
export function lockStep(opts: LockOptions): PreflightStep {
  return async (ctx: PreflightContext): Promise<PreflightResult> => {
    const locked = mergeLocks(await Promise.all(opts.targets.map((t) => loadLock(t.path, Boolean(opts.update)))));
    const now = await resolveLock(ctx.plan, ctx.deps, ctx.concurrency);
    const drift = lockDrift(locked, now);
    const paths = opts.targets.map((t) => t.path);
    if (drift.length > 0 && !opts.update) throw driftError(drift, paths);
    if (opts.update) {
      const changed = await writeLocks(opts.targets, now);
      for (const d of drift) ctx.emit({ type: 'warning', message: `lock: ${driftLine(d)}; taken (--update-lock)` });
      for (const path of changed) ctx.logger?.info(`lock: wrote ${path}`);
    }
    return { plan: pinPlan(ctx.plan, new Map(now.images.map((i) => [i.ref, i])), ctx.policy) };
  };
}
