import type { Command } from 'commander';
import { ARCHES } from '../../catalog/index.js';
import type { ExportEvent } from '../../export/index.js';
import type { KkManifest } from '../../manifest/index.js';
import { parseTargets, planSync, syncRegistries, type SyncEvent, type SyncReport } from '../../sync/index.js';
import { redactText } from '../../util/sources.js';
import { kkNamingOf } from '../../manifest/index.js';
import type { TargetNaming } from '../../sync/index.js';
import { absPath, cacheDirFor, catalogFor, oneOf, parseIntFlag, resolveKkVersion } from '../common.js';
import { collectList, printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { atLeast, cliLogger, say } from '../output.js';
import { formatBytes, ttyRenderer } from '../progress.js';
import { addNetworkOptions, policyFor, retriesOf, type NetworkOptions } from './artifact.js';
import { readManifests } from './manifest-read.js';

type SyncOptions = NetworkOptions & {
  manifest: string[];
  to: string[];
  arch?: string[];
  plainHttp?: boolean;
  certDir?: string;
  skipTlsVerify?: boolean;
  concurrency: string;
  dryRun?: boolean;
  json?: boolean;
  kkVersion?: string;
  kkPushNames?: boolean;
};

// --arch replaces every manifest's spec.arches, as if the manifests said so.
function withArches(manifests: KkManifest[], arch: string[] | undefined): KkManifest[] {
  if (arch === undefined) return manifests;
  const arches = [...new Set(arch.map((a) => oneOf('--arch', a, ARCHES)))];
  return manifests.map((m) => ({ ...m, spec: { ...m.spec, arches } }));
}

// The names sync creates: push's rule (the names nodes pull, or kk's push names with --kk-push-names) for the kk
// release of --kk-version, else the one the manifests record (spec.kko.kkVersion), kk on PATH, else the newest.
async function namingFor(ctx: CommandContext, o: SyncOptions, manifests: readonly KkManifest[]): Promise<TargetNaming> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const recorded = manifests.map((m) => m.spec.kko?.kkVersion).find(Boolean);
  const kkVersion = await resolveKkVersion(ctx, catalog, o.kkVersion, recorded);
  return {
    kk: kkNamingOf(catalog.profile(kkVersion).features),
    mode: o.kkPushNames ? 'kk' : 'pull',
    kkRepository: (r) => catalog.kkRepository(r),
  };
}

// `kko sync`: flags → syncRegistries → a report per target.
async function runSync(o: SyncOptions, ctx: CommandContext): Promise<void> {
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 64);
  const retries = retriesOf(o);
  const manifests = withArches(
    (await readManifests(ctx, o.manifest)).map((p) => p.manifest),
    o.arch,
  );
  const targets = parseTargets(o.to ?? [], await namingFor(ctx, o, manifests));
  const policy = await policyFor(ctx, o);
  if (o.dryRun) return printPlan(ctx, planSync(manifests, policy, targets), Boolean(o.json));
  const level = ctx.level ?? 'info';
  const bars =
    Boolean(ctx.io.stderrIsTTY) && atLeast(level, 'info') && !(o.json && ctx.io.isTTY)
      ? ttyRenderer(ctx.io)
      : undefined;
  const events = (e: SyncEvent): void => {
    if (o.json && e.type !== 'bytes') ctx.io.stdout(`${JSON.stringify(e)}\n`);
    const x = bars ? asExportEvent(e) : undefined;
    if (x) bars?.onEvent(x);
  };
  const logger = cliLogger(ctx.io, () => (level === 'info' && !bars ? 'warn' : level), bars ? bars.above : (w) => w());
  const report = await syncRegistries({
    manifests,
    policy,
    targets,
    targetHost: {
      ...(o.plainHttp ? { plainHTTP: true } : {}),
      ...(o.skipTlsVerify ? { skipTLSVerify: true } : {}),
      ...(o.certDir ? { certsPath: absPath(ctx, o.certDir) } : {}),
    },
    cacheDir: cacheDirFor(ctx, o.cache),
    env: ctx.io.env,
    concurrency,
    http: { retries },
    logger,
    events,
    ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
  });
  const failed = report.resolveFailures.length > 0 || report.targets.some((t) => t.failures.length > 0);
  bars?.finish(!failed);
  if (!o.json) printReport(ctx, report);
  if (failed) {
    reportFailures(ctx, report);
    ctx.setExit(EXIT_FAILURE);
  }
}

// The sync's events as the export bars know them: one row per image × target.
function asExportEvent(e: SyncEvent): ExportEvent | undefined {
  switch (e.type) {
    case 'plan':
      return { type: 'plan', images: e.images * e.targets.length, files: 0, arches: e.arches, zone: '' };
    case 'resolved-all':
      return { type: 'resolved', images: 1, of: 1, failed: e.failed, totalBytes: e.totalBytes, cachedBytes: 0 };
    case 'image-start':
      return { type: 'image-start', ref: e.ref, arch: `→ ${e.target}`, size: e.size };
    case 'bytes':
      return { type: 'bytes', ref: e.ref, arch: `→ ${e.target}`, fetched: e.bytes };
    case 'image-done':
      return {
        type: 'image-done',
        ref: e.ref,
        arch: `→ ${e.target}`,
        source: '',
        via: '',
        digest: '',
        size: 0,
        fetchedBytes: e.bytesSent,
      };
    case 'image-failed':
      return { type: 'image-failed', ref: e.ref, arch: `→ ${e.target}`, code: e.code, message: e.message };
    default:
      return undefined;
  }
}

function printPlan(ctx: CommandContext, plan: ReturnType<typeof planSync>, json: boolean): void {
  if (json) return printJson(ctx, plan);
  for (const i of plan.images) {
    ctx.io.stdout(`${i.ref}  <-  ${i.sources.join(' | ')}\n`);
    for (const t of i.targets) ctx.io.stdout(`  -> ${t.names.join(', ')}\n`);
  }
}

function printReport(ctx: CommandContext, r: SyncReport): void {
  for (const t of r.targets) {
    const b = t.blobs;
    ctx.io.stdout(
      `${t.target}: ${t.images.length} image(s) synced, ${t.failures.length} failed; ${t.names.length} name(s) put; blobs ${b.copied} sent, ${b.present} present, ${b.mounted} mounted; ${formatBytes(t.bytesSent)} sent\n`,
    );
  }
}

// One line per failure, naming the target and the image.
function reportFailures(ctx: CommandContext, r: SyncReport): void {
  for (const f of r.resolveFailures)
    say(
      ctx.io,
      'error',
      redactText(
        `resolving ${f.ref} (${f.arch ?? '?'}) for every target: ${(f.error as Error)?.message ?? String(f.error)}`,
      ),
    );
  for (const t of r.targets)
    for (const f of t.failures)
      say(
        ctx.io,
        'error',
        redactText(`syncing ${f.ref} to ${t.target}: ${(f.error as Error)?.message ?? String(f.error)}`),
      );
  const bad = r.targets.filter((t) => t.failures.length > 0).map((t) => t.target);
  say(
    ctx.io,
    'hint',
    `${bad.length > 0 ? `target(s) ${bad.join(', ')} are incomplete (no tag points at anything partial); ` : ''}re-run the same sync: it sends only what each target still lacks`,
  );
}

const HELP = `
Examples:
  $ kko sync -m manifest.yaml --to registry-a.local:5000 --to registry-b.local:5000
  $ kko sync -m manifest.yaml --to harbor.example.com/kubesphereio --cert-dir /etc/docker/certs.d/harbor.example.com
  $ kko sync -m manifest.yaml --to 10.0.0.5:5000 --plain-http --arch amd64 --dry-run
  $ kko sync -m base.yaml -m addons.yaml --to reg.local:5000 --json > sync.ndjson

Each image goes to <registry>/<namespace>/<name>:<tag>-<arch> per arch and its index to :<tag>, under the names the
NODES WILL PULL, by the rule of \`kko artifact images push\` (see its --help): the namespace is kk's default one for a
kk image (e.g. registry.k8s.io/pause → kubesphere/pause), the image's own for any other; --to HOST/path puts path in
place of the namespace (kk's namespaceOverride). --kk-push-names gives exactly kk's own push names instead (for
kk v3.1.7+ that ignores the path, as kk's push ignores namespaceOverride). The kk release: --kk-version, else the
manifests' spec.kko.kkVersion, kk on PATH, else the newest. Sources are read through the
mirror policy as export reads them; every source blob is fetched once (into the --cache) for all targets, and each
target is sent only the blobs it lacks. Credentials: kk's registry.auths in the manifest, then docker / containers
auth files. Exit codes: 0 every target complete, 1 an image failed on some target (named; the others complete),
2 invalid input (a bad --to, --arch or manifest).
`;

export function registerSync(program: Command, ctx: CommandContext): void {
  addNetworkOptions(
    program
      .command('sync')
      .description("copy the manifest's images from their sources straight to one or more registries, with kk's names")
      .requiredOption('-m, --manifest <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option('--to <host[/path]>', 'target registry (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option(
        '--arch <arch>',
        "amd64 | arm64 (repeatable or comma list; default: the manifests' spec.arches)",
        collectList,
      )
      .option('--plain-http', 'talk plain HTTP to the targets')
      .option('--cert-dir <dir>', "the targets' certs.d folder: *.crt CAs, *.cert + *.key client certificates")
      .option('--skip-tls-verify', "do not check the targets' TLS certificates")
      .option('--concurrency <n>', 'images in flight per target', '4')
      .option(
        '--kk-version <v>',
        "the kk release that installs (default: the manifests' spec.kko.kkVersion, kk on PATH, else newest)",
      )
      .option('--kk-push-names', "create exactly the names kk's own push creates, even where nodes pull others")
      .option('--dry-run', 'list what would be copied where, without touching the network')
      .option('--json', 'NDJSON events on stdout (resolved, image-done, image-failed, target-done, done)'),
  )
    .addHelpText('after', HELP)
    .action(async (o: SyncOptions) => runSync(o, ctx));
}
