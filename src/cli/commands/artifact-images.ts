import type { Command } from 'commander';
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
  pushCarried,
  registryTarget,
  targetRegistry,
  type PushPlan,
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
import { absPath, cacheDirFor, catalogFor, parseIntFlag, resolveKkVersion } from '../common.js';
import type { CommandContext } from '../context.js';
import { atLeast, say } from '../output.js';
import { printCheckReport, printPlan, printPushReport, pushSink } from './artifact-images-report.js';
import { imageKeyOf, keyVerifier, printMissing } from './artifact-read.js';
import { readManifests } from './manifest-read.js';

export type TargetOptions = {
  filename?: string;
  registry?: string;
  namespaceOverride?: string;
  plainHttp?: boolean;
  skipTlsVerify?: boolean;
  certsPath?: string;
  kkVersion?: string;
  kkPushNames?: boolean;
  catalogDir?: string[];
  retries: string;
  concurrency: string;
  json?: boolean;
};
type PushOptions = TargetOptions & {
  artifact?: string;
  imagesDir?: string;
  dryRun?: boolean;
  preserveDigests?: boolean;
  requireSignature?: boolean;
  key?: string;
  cache?: string;
  base?: string;
  verifyImages?: boolean;
  imageKey?: string;
  allowUnsigned?: string[];
  recheck?: boolean;
};
type CheckOptions = TargetOptions & { artifact?: string; imagesDir?: string; manifest?: string[]; cache?: string };

const PUSH_HELP = `
Names: every image goes to <registry>/<namespace>/<name>:<tag>-<arch> per arch, plus a multi-arch index at
<registry>/<namespace>/<name>:<tag>, under the names the NODES WILL PULL at install: <privateRegistry>/
<namespaceOverride, else kk's default namespace (rewritten by namespaceRewrite from kk v3.1.8)>/<name>:<tag>.
Where kk's own push would create other names (kk v3.1.7+ ignores namespaceOverride on push; a cn manifest keeps
kubesphereio) kko says so and pushes the pull names; --kk-push-names reproduces kk's push exactly.
The index at :<tag> is made over the pushed arches (the same digest on every registry); --preserve-digests puts the
upstream index instead (the upstream's digest, as signatures and digest pins expect) where the artifact kept it whole,
i.e. the export took every platform it lists.

Examples:
  $ kko artifact images push -a kubekey-artifact.tar.gz -f config-sample.yaml
  $ kko artifact images push -a kubekey-artifact.tar.gz --registry 10.0.0.5:5000 --plain-http
  $ kko artifact images push -a art.tar.gz --registry dockerhub.kubekey.local --certs-path /etc/docker/certs.d/dockerhub.kubekey.local
  $ kko artifact images push --images-dir kubekey/images -f config-sample.yaml --dry-run
  $ kko artifact images push --images-dir /data/kk-art -f config-sample.yaml   # DIR of kko artifact import --dir DIR
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --preserve-digests
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --json > push.ndjson
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --require-signature --key release.pub
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --verify-images --image-key cosign.pub

The artifact is read in place (.tar, .tar.gz as kko writes it, .tar.zst, or its parts), never unpacked. A .tar.gz or
.tar.zst another tool compressed (kk's own export, GNU tar czf) is read in order: once for its metadata, once more
sending the blobs the registry lacks as they stream by (two inflate passes; none when nothing is missing). Blobs the
registry has are skipped (HEAD), blobs another repository holds are mounted; an image's tags are put only after
all its blobs and manifests are in, so a re-run after a failure finishes the job and sends only what is missing.
A name whose tag already resolves to exactly the digest the push would put there is skipped with one HEAD (no blob
HEADs): only that digest match counts, and it trusts the registry to have checked the blobs when it took that
manifest (distribution, Harbor and zot do); --recheck HEADs every blob again.
Credentials: registry.auths of -f, then docker's config.json, then containers' auth.json.
A delta (export --base / --have) is pushed only where its base is: every blob it leaves out must already be in
the registry, in each repository that needs it (HEAD, before anything is pushed; each missing one is listed), or
--base OLD_ART gives them (it must be the delta's base; blobs come from it, read in place).
  $ kko artifact images push -a kubekey-artifact-delta.tar.gz --base kubekey-artifact-v1.28.8.tar.gz -f config.yaml
The signatures (export --verify-images) and referrers (export --with-referrers) the artifact (or an imported
directory, --images-dir) carries go to each image's repository once every image is in, with or without
--verify-images (it only re-verifies them first); each is listed under its image, counted on the total line and a
"carried" NDJSON event before "done". One already there is "present" (nothing sent) unless --recheck. A referrers
tag (sha256-<hex>) that holds an index is merged with; one that holds anything else is left as it is, with a
warning. One whose subject the registry does not hold after the push (the index push made, a Docker-typed image's
per-arch manifests, converted to OCI at export) is a warning: push with --preserve-digests to keep those digests.
Exit codes: 0 every image pushed, 1 some image failed (listed; re-run) or a delta's base is not there, 2 invalid input.
`;

const CHECK_HELP = `
Lists every name the nodes will pull (see push --help for the naming) and proves each is in the registry with the
platforms it needs (GET the manifest, platforms from its index; with -a, each platform's digest must be the
artifact's, or the index its upstream one, as --preserve-digests pushes it). Before a push it shows what is missing.
With -a or --images-dir, each signature and referrer carried is checked too (present, missing, different: its tag
holds another manifest, unlisted: not in the referrers index).

Examples:
  $ kko artifact images check -a kubekey-artifact.tar.gz -f config-sample.yaml
  $ kko artifact images check -m manifest.yaml --registry 10.0.0.5:5000 --plain-http --json

Exit codes: 0 every name (and carried manifest) present, 1 some missing or incomplete (listed), 2 invalid input.
`;

const CACHE_FLAG =
  "kko cache dir, where the artifact's verified index is kept so a re-push reads only its metadata (default $KKO_CACHE_DIR, $XDG_CACHE_HOME/kko, ~/.cache/kko)";

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option(
      '-f, --filename <file>',
      'kk Cluster config: registry.privateRegistry, namespaceOverride, namespaceRewrite, auths (credentials, plainHTTP, skipTLSVerify, certsPath)',
    )
    .option('--registry <host[:port][/path]>', 'the registry (kk privateRegistry), over the -f one')
    .option('--namespace-override <ns>', 'kk registry.namespaceOverride, over the -f one')
    .option('--plain-http', 'the registry speaks plain HTTP (kk auths plainHTTP)')
    .option('--skip-tls-verify', 'do not verify the registry certificate (kk auths skipTLSVerify)')
    .option(
      '--certs-path <dir>',
      'CA (*.crt) and client certificates (*.cert/*.key) for the registry (kk auths certsPath)',
    )
    .option(
      '--kk-version <v>',
      "the kk release that installs (default: the artifact inventory's, kk on PATH, else newest)",
    )
    .option('--kk-push-names', "create exactly the names kk's own push creates, even where nodes pull others")
    .option('--retries <n>', 'retries per request on 5xx, 429, resets and timeouts, with backoff', '4')
    .option('--concurrency <n>', 'images in flight (requests per registry host are bounded too)', '4')
    .option('--catalog-dir <dir>', 'extra catalog dir (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'NDJSON events (push) or a JSON report (check) on stdout');
}

export function registerArtifactImagesCommands(artifact: Command, ctx: CommandContext): void {
  const images = artifact
    .command('images')
    .alias('image')
    .alias('i')
    .description("push an artifact's images to a registry under the names nodes pull; check they are there");
  addTargetOptions(
    images
      .command('push')
      .description(
        'push every image of an artifact (read in place) to the registry, per arch and as a multi-arch index',
      )
      .option('-a, --artifact <file>', 'the artifact (.tar.gz, .tar.zst, .tar, or ART.part-000)')
      .option(
        '--images-dir <dir>',
        "an imported artifact directory (kko artifact import --dir DIR), its images/ layout, or kk's kubekey/images, instead of -a",
      )
      .option('--dry-run', 'list the names the push would create and stop')
      .option(
        '--preserve-digests',
        "put the upstream index the artifact kept at <name>:<tag> (the upstream's index digest); refused, naming the images, where it is not kept whole",
      )
      .option('--require-signature', 'refuse an artifact that is not signed with --key')
      .option('--key <pub>', 'public key (PEM) the artifact must be signed with (implies --require-signature)')
      .option('--base <old-artifact>', 'for a delta (-a): take the blobs it leaves out from this artifact, its base')
      .option(
        '--recheck',
        'HEAD every blob and put every manifest again, even under names whose tag already holds the digest this push puts',
      )

      .option('--cache <dir>', CACHE_FLAG)
      .option(
        '--verify-images',
        "re-verify every image's cosign signature the artifact carries (--image-key) before pushing (they are pushed either way)",
      )
      .option('--image-key <pub>', 'cosign public key (PEM) the images must be signed with (with --verify-images)')
      .option('--allow-unsigned <ref...>', 'images let through unsigned at export (with --verify-images)'),
  )
    .addHelpText('after', PUSH_HELP)
    .action(async (o: PushOptions) => runPush(o, ctx));
  addTargetOptions(
    images
      .command('check')
      .description('prove every name the nodes will pull is in the registry with the right platforms')
      .option('-a, --artifact <file>', 'the artifact')
      .option('--images-dir <dir>', 'an imported artifact directory or its images/ layout (OCI layout)')
      .option(
        '-m, --manifest <file>',
        'a manifest instead of an artifact (repeatable)',
        (v: string, p: string[] = []) => [...p, v],
      )
      .option('--cache <dir>', CACHE_FLAG),
  )
    .addHelpText('after', CHECK_HELP)
    .action(async (o: CheckOptions) => runCheck(o, ctx));
}

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

async function runPush(o: PushOptions, ctx: CommandContext): Promise<void> {
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

function targetFlags(ctx: CommandContext, o: TargetOptions): Parameters<typeof targetRegistry>[1] {
  return {
    ...(o.registry !== undefined ? { registry: o.registry } : {}),
    ...(o.namespaceOverride !== undefined ? { namespaceOverride: o.namespaceOverride } : {}),
    plainHTTP: Boolean(o.plainHttp),
    skipTLSVerify: Boolean(o.skipTlsVerify),
    ...(o.certsPath ? { certsPath: absPath(ctx, o.certsPath) } : {}),
  };
}

async function runCheck(o: CheckOptions, ctx: CommandContext): Promise<void> {
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
