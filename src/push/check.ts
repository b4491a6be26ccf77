import type { ContentSource } from '../content/index.js';
import {
  formatPlatform,
  parseConfigPlatform,
  parseManifestJson,
  platformMatches,
  type Platform,
} from '../oci/index.js';
import { formatReference, parseDigest, type Reference } from '../reference/index.js';
import { mapLimit } from '../util/concurrency.js';
import type { PlannedImage, PushPlan } from './plan.js';

// ok: every platform there (with the artifact's digests, when it gave them); missing: no such name; incomplete:
// the name lacks platforms; different: a platform holds other content than the artifact's.
export type CheckStatus = 'ok' | 'missing' | 'incomplete' | 'different';

export type CheckedImage = {
  readonly name: string; // what nodes pull
  readonly source: string;
  readonly status: CheckStatus;
  readonly platforms: readonly string[]; // what the registry has under the name
  readonly missing: readonly string[]; // wanted platforms it lacks (or holds with other content)
  readonly digest?: string; // of the manifest under the name
};

export type CheckReport = { readonly ok: boolean; readonly images: readonly CheckedImage[] };

export type CheckOptions = { readonly concurrency?: number; readonly signal?: AbortSignal };

const MAX_CONFIG = 16 * 1024 * 1024;

// The platforms a name resolves to: the index's entries, or for a single manifest its config's platform.
async function platformsAt(
  target: ContentSource,
  ref: Reference,
  signal?: AbortSignal,
): Promise<{ digest: string; platforms: Array<{ platform: Platform; digest: string }> } | undefined> {
  const so = signal ? { signal } : {};
  if (!(await target.headManifest(ref, so))) return undefined;
  const top = await target.getManifest(ref, so);
  const parsed = parseManifestJson(top.bytes, top.mediaType);
  if (parsed.kind === 'index') {
    const platforms = parsed.manifest.manifests.flatMap((d) =>
      d.platform ? [{ platform: d.platform, digest: d.digest }] : [],
    );
    return { digest: top.digest, platforms };
  }
  const config = parsed.manifest.config;
  if (config.size > MAX_CONFIG) return { digest: top.digest, platforms: [] };
  const chunks: Buffer[] = [];
  for await (const c of await target.getBlob(ref, { ...config, digest: parseDigest(config.digest) }, so))
    chunks.push(c as Buffer);
  return {
    digest: top.digest,
    platforms: [{ platform: parseConfigPlatform(Buffer.concat(chunks)), digest: top.digest }],
  };
}

async function checkImage(target: ContentSource, img: PlannedImage, signal?: AbortSignal): Promise<CheckedImage> {
  const name = formatReference(img.target);
  const found = await platformsAt(target, img.target, signal);
  const want = img.children.map((c) => formatPlatform(c.platform));
  if (!found) return { name, source: img.source, status: 'missing', platforms: [], missing: want };
  const platforms = found.platforms.map((p) => formatPlatform(p.platform));
  const absent: string[] = [];
  const differ: string[] = [];
  for (const c of img.children) {
    const have = found.platforms.filter((p) => platformMatches(c.platform, p.platform));
    if (have.length === 0) absent.push(formatPlatform(c.platform));
    else if (c.entry.digest && !have.some((p) => p.digest === c.entry.digest)) differ.push(formatPlatform(c.platform));
  }
  const status: CheckStatus = absent.length > 0 ? 'incomplete' : differ.length > 0 ? 'different' : 'ok';
  return { name, source: img.source, status, platforms, missing: [...absent, ...differ], digest: found.digest };
}

// Prove every name of the plan is in the target with the platforms it needs (GET each manifest, read the index).
export async function checkPushed(
  target: ContentSource,
  plan: PushPlan,
  opts: CheckOptions = {},
): Promise<CheckReport> {
  const settled = await mapLimit(plan.images, opts.concurrency ?? 8, (img) => checkImage(target, img, opts.signal), {
    stopOnError: true,
    signal: opts.signal,
  });
  const failed = settled.find((r): r is PromiseRejectedResult => r?.status === 'rejected');
  if (failed) throw failed.reason;
  const images = settled.map((r) => (r as PromiseFulfilledResult<CheckedImage>).value);
  return { ok: images.every((i) => i.status === 'ok'), images };
}
