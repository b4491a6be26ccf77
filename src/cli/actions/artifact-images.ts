import { formatIssue, KkoError, type Issue } from '../../errors.js';
import { kkNamingOf, loadClusterConfig, mergeManifests, type RegistryFacts } from '../../manifest/index.js';
import {
  checkPushed,
  manifestEntries,
  openArtifactSource,
  openLayoutSource,
  planPush,
  preservedIndexes,
  pushImages,
  pushReferrers,
  pushSignatures,
  registryTarget,
  targetRegistry,
  type PushEvent,
  type PushPlan,
  type PushReport,
  type PushSource,
  StreamedSource,
  streamMissingBlobs,
  assertBaseInTarget,
} from '../../push/index.js';
import type { ContentSource } from '../../content/index.js';
import {
  ArtifactProblemsError,
  checkImageSignatures,
  formatProblem,
  signatureBlobKeeper,
  type ImageKeyOptions,
} from '../../artifact-read/index.js';
import { ArtifactStore, DeltaSource, assertBaseOf } from '../../artifact-store/index.js';
import type { ExportEvent } from '../../export/index.js';
import { formatReference } from '../../reference/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, cacheDirFor, catalogFor, parseIntFlag, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { atLeast, say } from '../output.js';
import { formatBytes, ttyRenderer } from '../progress.js';
import { imageKeyOf, keyVerifier, printMissing } from './artifact-read.js';
import { readManifests } from './manifest-read.js';
import type { CheckOptions, PushOptions, TargetOptions } from '../commands/artifact-images.js';

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

// The plan: the registry block (-f, flags), the kk release (flag, inventory, else the usual default) and the entries.
export async function planFor(
  ctx: CommandContext,
  o: TargetOptions,
  entries: PushSource['entries'],
  recorded: string | undefined,
): Promise<{ plan: PushPlan; registry: RegistryFacts }> {
  const file = o.filename ? absPath(ctx, o.filename) : undefined;
  const cluster = file ? { file, facts: await loadClusterConfig(file) } : undefined;
  const registry = targetRegistry(cluster, targetFlags(ctx, o));
  const catalog = await catalogFor(ctx, o.catalogDir);
  const kkVersion = await resolveKkVersion(ctx, catalog, o.kkVersion, recorded);
  const features = catalog.profile(kkVersion).features;
  if (registry.namespaceRewrite && !features.namespaceRewrite && atLeast(ctx.level ?? 'info', 'warn'))
    say(
      ctx.io,
      'warning',
      `kk ${kkVersion} ignores registry.namespaceRewrite (it arrived in v3.1.8): names are made without it`,
    );
  const plan = planPush({
    entries,
    registry,
    kk: { ...kkNamingOf(features), version: kkVersion },
    mode: o.kkPushNames ? 'kk' : 'pull',
    kkRepository: (r) => catalog.kkRepository(r),
  });
  return { plan, registry };
}

function printIssues(ctx: CommandContext, issues: readonly Issue[]): void {
  const level = ctx.level ?? 'info';
  for (const i of issues) {
    if (!atLeast(level, i.severity === 'info' ? 'info' : 'warn')) continue;
    ctx.io.stderr(`${safeText(formatIssue(i))}\n`);
    if (i.hint) say(ctx.io, 'hint', i.hint, '  ');
  }
}

export function http(o: TargetOptions): { retries: number; maxConcurrency: number } {
  return { retries: parseIntFlag('--retries', o.retries, 0, 20), maxConcurrency: 16 };
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
        `${summary.verified} image signature(s) verified${summary.allowedUnsigned.length > 0 ? `, ${summary.allowedUnsigned.length} let through unsigned` : ''}\n`,
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
    let store: ContentSource = src.store;
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
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    sink.finish(report.failures.length === 0);
    if (imageCheck && report.failures.length === 0) {
      const sigs = await pushSignatures(src.store as ArtifactStore, target, plan, {
        ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
      });
      if (!o.json && atLeast(ctx.level ?? 'info', 'info'))
        for (const s of sigs) ctx.io.stdout(`pushed signature ${safeText(s.name)} ${s.digest}\n`);
    }
    // #12: the referrers the artifact carries (export --with-referrers) go along whenever the images made it.
    if (artifact && report.failures.length === 0) {
      const refs = await pushReferrers(artifact, target, plan, interrupts);
      if (!o.json && atLeast(ctx.level ?? 'info', 'info'))
        for (const s of refs) ctx.io.stdout(`pushed referrer ${safeText(s.name)} ${s.digest}\n`);
    }
    printReport(ctx, report, Boolean(o.json));
  } finally {
    await src.close();
    await base?.close();
  }
}

function targetFlags(ctx: CommandContext, o: TargetOptions): Parameters<typeof targetRegistry>[1] {
  return {
    ...(o.registry !== undefined ? { registry: o.registry } : {}),
    ...(o.namespaceOverride !== undefined ? { namespaceOverride: o.namespaceOverride } : {}),
    plainHTTP: Boolean(o.plainHttp),
    skipTLSVerify: Boolean(o.skipTlsVerify),
    ...(o.certsPath ? { certsPath: absPath(ctx, o.certsPath) } : {}),
  };
}

// --dry-run: every name the push creates, index first, its per-arch tags under it.
function printPlan(
  ctx: CommandContext,
  plan: PushPlan,
  json: boolean,
  upstream: ReadonlyMap<string, string> | undefined,
): void {
  if (json)
    return printJson(ctx, {
      images: plan.images.map((i) => ({
        name: formatReference(i.target),
        source: i.source,
        tags: i.children.map((c) => formatReference(c.target)),
        kkPushName: i.kkPushName,
        ...(upstream ? { upstreamIndex: upstream.get(formatReference(i.target)) } : {}),
      })),
      issues: plan.issues,
    });
  for (const i of plan.images) {
    const name = formatReference(i.target);
    const kept = upstream?.get(name);
    ctx.io.stdout(`${safeText(name)}  <-  ${safeText(i.source)}${kept ? `  (upstream index ${kept})` : ''}\n`);
    for (const c of i.children) ctx.io.stdout(`  ${safeText(formatReference(c.target))}\n`);
  }
}

// NDJSON of the push events (--json, or stdout not a terminal), bars on a terminal stderr.
function pushSink(
  ctx: CommandContext,
  json: boolean,
): { event: (e: PushEvent) => void; finish: (ok: boolean) => void } {
  const io = ctx.io;
  const bars = Boolean(io.stderrIsTTY) && atLeast(ctx.level ?? 'info', 'info') && !(json && io.isTTY);
  const tty = bars ? ttyRenderer(io) : undefined;
  const ndjson = json || !io.isTTY;
  return {
    event: (e) => {
      if (ndjson && e.type !== 'bytes') io.stdout(`${JSON.stringify(e)}\n`);
      const shown = tty ? asProgress(e) : undefined;
      if (shown) tty?.onEvent(shown);
    },
    finish: (ok) => tty?.finish(ok),
  };
}

// The push as the bars' events (one "image" per name; bytes are bytes sent).
function asProgress(e: PushEvent): ExportEvent | undefined {
  switch (e.type) {
    case 'plan':
      return { type: 'plan', images: e.images, files: 0, arches: [], zone: '' };
    case 'image-start':
      return { type: 'image-start', ref: e.name, arch: e.platforms.join(','), size: e.size };
    case 'bytes':
      return { type: 'bytes', ref: e.name, arch: '', fetched: e.bytes };
    case 'image-done':
      return {
        type: 'image-done',
        ref: e.name,
        arch: '',
        source: '',
        via: '',
        digest: e.digest,
        size: 0,
        fetchedBytes: e.bytesSent,
      };
    case 'image-failed':
      return { type: 'image-failed', ref: e.name, arch: '', code: e.code, message: e.message };
    default:
      return undefined;
  }
}

function printReport(ctx: CommandContext, r: PushReport, json: boolean): void {
  for (const f of r.failures) {
    say(
      ctx.io,
      'error',
      `pushing ${safeText(f.name)} (from ${safeText(f.source)}): ${f.error instanceof Error ? safeText(f.error.message) : String(f.error)}`,
    );
    if (f.error instanceof KkoError && f.error.hint) say(ctx.io, 'hint', f.error.hint, '  ');
  }
  if (!json && atLeast(ctx.level ?? 'info', 'info')) {
    for (const p of r.pushed) ctx.io.stdout(`pushed ${safeText(p.name)} (${p.platforms.join(', ')}) ${p.digest}\n`);
    ctx.io.stderr(
      `${r.pushed.length} image(s) pushed, ${r.failures.length} failed; ${formatBytes(r.bytesSent)} of blobs sent, ${r.mounted} mounted, in ${r.seconds.toFixed(1)} s\n`,
    );
  }
  if (r.failures.length > 0) {
    ctx.io.stderr(
      `${r.failures.length} image(s) not pushed: their tags were not created. Re-run to push only what is missing.\n`,
    );
    ctx.setExit(EXIT_FAILURE);
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
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    if (o.json) printJson(ctx, report);
    else {
      for (const i of report.images)
        ctx.io.stdout(
          `${i.status.padEnd(10)} ${safeText(i.name)}${i.missing.length > 0 ? `  (${i.status === 'different' ? 'other content for' : 'no'} ${i.missing.join(', ')})` : ''}\n`,
        );
      const bad = report.images.filter((i) => i.status !== 'ok');
      ctx.io.stderr(
        bad.length === 0
          ? `all ${report.images.length} name(s) present\n`
          : `${bad.length} of ${report.images.length} name(s) missing or incomplete: ${bad.map((i) => i.name).join(', ')}\n`,
      );
    }
    if (!report.ok) ctx.setExit(EXIT_FAILURE);
  } finally {
    await src?.close();
  }
}
