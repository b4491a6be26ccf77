import { formatIssue, KkoError, type Issue } from '../../errors.js';
import { mergeManifests } from '../../manifest/index.js';
import {
  checkPushed,
  manifestEntries,
  openArtifactSource,
  openLayoutSource,
  preservedIndexes,
  pushImages,
  pushCarried,
  registryTarget,
  type PushSource,
  StreamedSource,
  streamMissingBlobs,
  assertBaseInTarget,
} from '../../push/index.js';
import {
  ArtifactProblemsError,
  checkImageSignatures,
  formatProblem,
  signatureBlobKeeper,
  type ImageKeyOptions,
} from '../../artifact-read/index.js';
import { ArtifactStore, DeltaSource, assertBaseOf, type ImageStore } from '../../artifact-store/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, cacheDirFor, catalogFor, parseIntFlag } from '../common.js';
import type { CommandContext } from '../context.js';
import { atLeast, say } from '../output.js';
import { printCheckReport, printPlan, printPushReport, pushSink } from './artifact-images-report.js';
import { imageKeyOf, keyVerifier, printMissing } from './artifact-read.js';
import { readManifests } from './manifest-read.js';
import { http, planFor } from './push-target.js';
import type { PushOptions, CheckOptions } from '../commands/artifact-images.js';

function oneSource(o: { artifact?: string; imagesDir?: string; manifest?: string[] }, what: string): void {
  const given = [o.artifact && '-a', o.imagesDir && '--images-dir', o.manifest?.length && '-m'].filter(Boolean);
  if (given.length === 1) return;
  throw new KkoError(
    'INVALID_INPUT',
    `artifact images ${what}: ${given.length === 0 ? 'no images to read' : `${given.join(' and ')} are exclusive`}`,
    {
      hint:
        what === 'check'
          ? 'pass one of -a ART, --images-dir DIR or -m manifest.yaml'
          : 'pass one of -a ART or --images-dir DIR',
    },
  );
}

function printIssues(ctx: CommandContext, issues: readonly Issue[]): void {
  const level = ctx.level ?? 'info';
  for (const i of issues) {
    if (!atLeast(level, i.severity === 'info' ? 'info' : 'warn')) continue;
    ctx.io.stderr(`${safeText(formatIssue(i))}\n`);
    if (i.hint) say(ctx.io, 'hint', i.hint, '  ');
  }
}

async function openSource(
  ctx: CommandContext,
  o: {
    artifact?: string;
    imagesDir?: string;
    key?: string;
    requireSignature?: boolean;
    cache?: string;
    verifyImages?: boolean;
  },
): Promise<PushSource> {
  if (o.imagesDir) {
    if (o.key || o.requireSignature)
      throw new KkoError('INVALID_INPUT', '--require-signature: only an artifact (-a) carries a signature', {
        hint: 'push the signed artifact with -a',
      });
    return openLayoutSource(absPath(ctx, o.imagesDir));
  }
  if (o.requireSignature && o.key === undefined)
    throw new KkoError(
      'INVALID_INPUT',
      '--require-signature: needs --key PUB, the public key the artifact must be signed with',
    );
  const signed = await keyVerifier(ctx, o.key);
  let src: Awaited<ReturnType<typeof openArtifactSource>>;
  try {
    src = await openArtifactSource(absPath(ctx, o.artifact as string), {
      catalog: await catalogFor(ctx, undefined),
      indexCache: cacheDirFor(ctx, o.cache),
      sequential: true, // a .tar.gz / .tar.zst another tool compressed: pushed by a second pass (src/push/stream.ts)
      ...signed,
      ...(o.verifyImages ? { keep: signatureBlobKeeper() } : {}),
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
  } catch (err) {
    // as import does: one line per problem (with --key, an unsigned artifact is "missing: kko/inventory.json.sig")
    if (err instanceof ArtifactProblemsError)
      for (const p of err.problems) ctx.io.stderr(`${safeText(formatProblem(p))}\n`);
    throw err;
  }
  if (o.key !== undefined && src.store.report.checked.signature !== 'verified') {
    await src.close();
    throw new KkoError(
      'INVALID_INPUT',
      `pushing ${o.artifact}: the artifact is not signed (no kko/inventory.json.sig)`,
      { hint: 'sign it with `kko artifact sign` before carrying it over, or drop --require-signature' },
    );
  }
  return src;
}

// --verify-images: the cosign check bound to --image-key (a bad key file: exit 2, before reading).
async function imageCheckOf(ctx: CommandContext, o: PushOptions): Promise<ImageKeyOptions | undefined> {
  if (!o.verifyImages) {
    if (o.imageKey !== undefined || o.allowUnsigned !== undefined)
      throw new KkoError('INVALID_INPUT', '--image-key / --allow-unsigned: only with --verify-images', {
        hint: 'add --verify-images',
      });
    return undefined;
  }
  if (o.imagesDir)
    throw new KkoError('INVALID_INPUT', '--verify-images: only an artifact (-a) carries image signatures', {
      hint: 'push the artifact with -a',
    });
  if (o.imageKey === undefined)
    throw new KkoError('INVALID_INPUT', '--verify-images: needs --image-key PUB, the cosign public key');
  return (await imageKeyOf(ctx, o)).imageKey;
}

// Every carried signature re-verified against the key and the artifact's content before anything is pushed.
function assertImagesSigned(ctx: CommandContext, src: PushSource, check: ImageKeyOptions, artifact: string): void {
  const { problems, summary } = checkImageSignatures((src.store as ArtifactStore).archive, check);
  if (problems.length === 0) {
    if (atLeast(ctx.level ?? 'info', 'info'))
      ctx.io.stderr(
        `${summary.verified} image signature(s) verified${summary.perArch > 0 ? ` (and ${summary.perArch} per-arch)` : ''}${summary.allowedUnsigned.length > 0 ? `, ${summary.allowedUnsigned.length} let through unsigned` : ''}\n`,
      );
    return;
  }
  for (const p of problems)
    ctx.io.stderr(`${safeText(formatProblem(p))}
`);
  throw new KkoError(
    'SIGNATURE_INVALID',
    `pushing ${artifact}: ${problems.length} image signature problem(s); nothing was pushed`,
    {
      hint: 'the artifact carries images its key does not vouch for: re-export with --verify-images, or push with the right --image-key',
    },
  );
}

export async function runPush(o: PushOptions, ctx: CommandContext): Promise<void> {
  oneSource(o, 'push');
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 64);
  const imageCheck = await imageCheckOf(ctx, o);
  const src = await openSource(ctx, o);
  let base: PushSource | undefined;
  try {
    if (imageCheck) assertImagesSigned(ctx, src, imageCheck, o.artifact as string);
    const { plan, registry } = await planFor(ctx, o, src.entries, src.kkVersion);
    printIssues(ctx, plan.issues);
    const upstreamIndexes = o.preserveDigests ? preservedIndexes(src.store, plan) : undefined;
    if (o.dryRun) return printPlan(ctx, plan, Boolean(o.json), upstreamIndexes);
    const target = registryTarget(registry, { env: ctx.io.env, http: http(o) });
    // #12 item 3: a delta takes what it leaves out from --base, else the registry must already hold it (checked first).
    const delta = src.store instanceof ArtifactStore && src.store.delta ? src.store : undefined;
    if (o.base !== undefined && !delta)
      throw new KkoError('INVALID_INPUT', `--base: ${o.artifact ?? o.imagesDir} is not a delta artifact`, {
        hint: 'drop --base: a complete artifact needs none',
      });
    let store: ImageStore = src.store;
    try {
      if (delta && o.base !== undefined) {
        const opened = await openArtifactSource(absPath(ctx, o.base), {
          catalog: await catalogFor(ctx, undefined),
          ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
        });
        base = opened;
        assertBaseOf(delta, opened.store);
        store = new DeltaSource(delta, opened.store);
      } else if (delta)
        await assertBaseInTarget(delta, target, plan, ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {});
    } catch (err) {
      printMissing(ctx, err);
      throw err;
    }
    const sink = pushSink(ctx, Boolean(o.json));
    const artifact = src.store instanceof ArtifactStore ? src.store : undefined;
    const inOrder = artifact && store === artifact ? artifact.sequentialBlobs().size : 0;
    if (artifact)
      sink.event({
        type: 'source',
        description: artifact.description,
        ...artifact.stats,
        ...(inOrder > 0 ? { sequentialBlobs: inOrder } : {}),
      });
    const streamed = artifact && inOrder > 0 ? new StreamedSource(artifact) : undefined;
    const interrupts = ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {};
    const report = await pushImages(streamed ?? store, target, plan, {
      concurrency,
      onEvent: sink.event,
      ...(artifact && streamed
        ? {
            prepass: async (dst, onEvent) =>
              void (await streamMissingBlobs(artifact, streamed, dst, plan, { ...interrupts, onEvent })),
          }
        : {}),
      ...(artifact ? { sourceBytesRead: () => artifact.stats.blobBytesRead } : {}),
      ...(upstreamIndexes ? { upstreamIndexes } : {}),
      ...(o.recheck ? { skipTagged: false } : {}),
      // #12: the signatures (export --verify-images) and referrers (--with-referrers) the artifact carries go along
      // whenever the images made it, with or without --verify-images (that only re-verifies them first).
      // From the image store the push reads (an artifact, a delta with its base, or a kko import's directory).
      ...(artifact || store.inventory()
        ? {
            carried: () =>
              pushCarried(store, target, plan, { ...interrupts, ...(o.recheck ? { skipTagged: false } : {}) }),
          }
        : {}),
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    sink.finish(report.failures.length === 0);
    printPushReport(ctx, report, Boolean(o.json));
  } finally {
    await src.close();
    await base?.close();
  }
}

export async function runCheck(o: CheckOptions, ctx: CommandContext): Promise<void> {
  oneSource(o, 'check');
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 64);
  let src: PushSource | undefined;
  let entries: PushSource['entries'];
  let recorded: string | undefined;
  if (o.manifest?.length) {
    const merged = mergeManifests((await readManifests(ctx, o.manifest)).map((p) => p.manifest));
    entries = manifestEntries([merged]);
    recorded = merged.spec.kko?.kkVersion;
  } else {
    src = await openSource(ctx, o);
    entries = src.entries;
    recorded = src.kkVersion;
  }
  try {
    const { plan, registry } = await planFor(ctx, { ...o, kkPushNames: false }, entries, recorded);
    printIssues(
      ctx,
      plan.issues.filter((i) => i.code !== 'KK_WOULD_DIFFER'),
    );
    const report = await checkPushed(registryTarget(registry, { env: ctx.io.env, http: http(o) }), plan, {
      concurrency,
      ...(src ? { store: src.store } : {}),
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    printCheckReport(ctx, report, Boolean(o.json));
  } finally {
    await src?.close();
  }
}
