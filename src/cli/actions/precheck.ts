import type { Catalog } from '../../catalog/index.js';
import { precheck, type PrecheckReport } from '../../export/index.js';
import type { ParsedManifest } from '../../manifest/index.js';
import { absPath, cacheDirFor, catalogFor, parseIntFlag } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { formatBytes } from '../progress.js';
import { downloadsFor, policyFor, retriesOf } from './network.js';
import type { NetworkOptions } from '../commands/artifact.js';
import { readManifests } from './manifest-read.js';
import type { PrecheckOptions } from '../commands/precheck.js';

// Run the online precheck for already-loaded manifests (shared by `kko precheck` and `manifest validate --online`).
export async function runOnlineCheck(
  ctx: CommandContext,
  catalog: Catalog,
  parsed: ParsedManifest[],
  o: NetworkOptions & { output?: string; kkVersion?: string; concurrency?: number },
): Promise<PrecheckReport> {
  const { downloads } = await downloadsFor(ctx, catalog, parsed, o.kkVersion);
  const policy = await policyFor(ctx, o);
  return precheck({
    manifests: parsed.map((p) => p.manifest),
    downloads,
    catalog,
    policy,
    cacheDir: cacheDirFor(ctx, o.cache),
    ...(o.output ? { output: absPath(ctx, o.output) } : {}),
    env: ctx.io.env,
    http: { retries: retriesOf(o) },
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    classify: (ref) => catalog.classify(ref),
    ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
  });
}

export function renderPrecheck(ctx: CommandContext, r: PrecheckReport): void {
  for (const i of r.images) {
    if (i.ok)
      ctx.io.stdout(
        `ok    ${i.ref} ${i.arch}  ${i.platform} ${formatBytes(i.size ?? 0)} from ${i.source} (${i.via})\n`,
      );
    else ctx.io.stderr(`FAIL  ${i.ref} ${i.arch}  ${i.code}: ${i.message}\n`);
  }
  for (const f of r.files) {
    if (f.ok) ctx.io.stdout(`ok    ${f.path}  ${f.cached ? 'cached' : `from ${f.source} (${f.via})`}\n`);
    else ctx.io.stderr(`FAIL  ${f.path}  ${f.code}: ${f.message}\n`);
  }
  if (r.images.length === 0 || r.images.some((i) => i.ok))
    ctx.io.stdout(
      `total ${formatBytes(r.totalBytes)} unique (${formatBytes(r.cachedBytes)} already cached, ${formatBytes(r.totalBytes - r.cachedBytes)} to fetch)\n`,
    );
  for (const d of r.disks) {
    const line = `disk  ${d.path}: ${formatBytes(d.freeBytes)} free, ${formatBytes(d.neededBytes)} needed\n`;
    (d.ok ? ctx.io.stdout : ctx.io.stderr)(d.ok ? line : `NOT ENOUGH ${line}`);
  }
}

export async function runPrecheck(o: PrecheckOptions, ctx: CommandContext): Promise<void> {
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 256);
  retriesOf(o); // flags are checked before any file or network is touched
  const catalog = await catalogFor(ctx, o.catalogDir);
  const parsed = await readManifests(ctx, o.manifest);
  const report = await runOnlineCheck(ctx, catalog, parsed, { ...o, concurrency });
  if (o.json) printJson(ctx, report);
  else renderPrecheck(ctx, report);
  if (!report.ok) ctx.setExit(EXIT_FAILURE);
}
