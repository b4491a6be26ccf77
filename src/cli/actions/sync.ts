import { ARCHES } from '../../catalog/index.js';
import type { ExportEvent } from '../../export/index.js';
import type { KkManifest } from '../../manifest/index.js';
import { parseTargets, planSync, syncRegistries, type SyncEvent, type SyncReport } from '../../sync/index.js';
import { redactText } from '../../util/sources.js';
import { kkNamingOf } from '../../manifest/index.js';
import type { TargetNaming } from '../../sync/index.js';
import { absPath, cacheDirFor, catalogFor, oneOf, parseIntFlag, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { atLeast, cliLogger, say } from '../output.js';
import { formatBytes, ttyRenderer } from '../progress.js';
import { policyFor, retriesOf } from './network.js';
import { readManifests } from './manifest-read.js';
import type { SyncOptions } from '../commands/sync.js';

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
export async function runSync(o: SyncOptions, ctx: CommandContext): Promise<void> {
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
