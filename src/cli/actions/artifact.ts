import { resolve } from 'node:path';
import { haveOf } from '../../artifact-read/index.js';
import { MAX_HAVE_BYTES, parseHaveList, type HaveList } from '../../artifact-format/index.js';
import { readTextFile } from '../../util/yaml-doc.js';
import { formatReference } from '../../reference/index.js';
import { KkoError } from '../../errors.js';
import { exportArtifact, planArtifact } from '../../export/index.js';
import { compressionForOutput } from '../../archive/output-name.js';
import { MIN_SPLIT_SIZE, partsListName, presentParts } from '../../archive/parts.js';
import {
  absPath,
  assertNotAnInput,
  assertWritable,
  cacheDirFor,
  catalogFor,
  parseIntFlag,
  parseSizeFlag,
} from '../common.js';
import { assertBinaryChecksums, type DownloadPlan } from '../../download/index.js';
import type { Catalog } from '../../catalog/index.js';
import { supplySteps } from './artifact-supply.js';
import { downloadsFor, policyFor, retriesOf } from './network.js';
import { signerOf } from './artifact-sign.js';
import { printJson, type CommandContext } from '../context.js';
import { groupFailures, redactText } from '../../util/sources.js';
import { EXIT_FAILURE } from '../io.js';
import { atLeast, cliLogger, say } from '../output.js';
import type { EventSink, ExportReport } from '../../export/index.js';
import { formatBytes, ndjsonRenderer, ttyRenderer } from '../progress.js';
import { readManifests } from './manifest-read.js';
import { DEFAULT_DELTA_OUTPUT, DEFAULT_OUTPUT, type ExportOptions } from '../commands/artifact.js';

// #12 item 3: --base OLD_ART (listed here, verified first) or --have have.json (`kko artifact inventory OLD_ART` on
// the far side): what the delta leaves out. A bad have-list is invalid input naming the file and the field.
async function haveListFor(ctx: CommandContext, o: ExportOptions, catalog: Catalog): Promise<HaveList | undefined> {
  if (o.base !== undefined && o.have !== undefined)
    throw new KkoError('INVALID_INPUT', '--base and --have: give one (the old artifact, or its have-list)');
  if (o.base !== undefined)
    return haveOf(absPath(ctx, o.base), {
      catalog,
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
  if (o.have === undefined) return undefined;
  // a directory, a file past MAX_HAVE_BYTES or binary content is invalid input naming it, before anything is parsed
  const text = await readTextFile(absPath(ctx, o.have), 'the have-list (--have)', MAX_HAVE_BYTES);
  return parseHaveList(text, o.have);
}

const FAT32_MAX = 2 ** 32 - 1;

// --split-size: parsed, and refused with -o -; 4G (the usual guess for a stick) gets the FAT32 warning.
function splitSizeOf(ctx: CommandContext, o: ExportOptions): number | undefined {
  if (o.splitSize === undefined) return undefined;
  const size = parseSizeFlag('--split-size', o.splitSize, MIN_SPLIT_SIZE);
  if (o.output === '-')
    throw new KkoError('INVALID_INPUT', '--split-size: cannot split standard output (-o -)', {
      hint: 'write to a file (-o ART.tar.gz), or pipe -o - through `split`',
    });
  if (size === FAT32_MAX + 1 && atLeast(ctx.level ?? 'info', 'warn'))
    say(
      ctx.io,
      'warning',
      '--split-size 4G: a 4 GiB part does not fit on FAT32 (its largest file is 4 GiB - 1 byte); use --split-size 4095M for FAT32 media',
    );
  return size;
}

// No part or parts list of an earlier export is overwritten without --force.
async function assertPartsWritable(output: string, force: boolean): Promise<void> {
  for (const path of [partsListName(output), ...(await presentParts(output)).values()])
    await assertWritable(path, force);
}

// Every file the export reads: the output may be none of them.
function exportInputs(
  ctx: CommandContext,
  o: ExportOptions,
  downloads: DownloadPlan,
): Array<{ what: string; path: string }> {
  const mirrors = o.mirrorConfig ?? ctx.io.env.KKO_MIRROR_CONFIG;
  return [
    ...o.manifest.map((m) => ({ what: 'the manifest (-m)', path: absPath(ctx, m) })),
    ...(mirrors ? [{ what: 'the mirror config', path: absPath(ctx, mirrors) }] : []),
    ...(o.base !== undefined ? [{ what: 'the base artifact (--base)', path: absPath(ctx, o.base) }] : []),
    ...(o.have !== undefined ? [{ what: 'the have-list (--have)', path: absPath(ctx, o.have) }] : []),
    ...downloads.isos.flatMap((i) =>
      i.localPath
        ? [{ what: `the ISO localPath of ${i.path}`, path: resolve(i.baseDir ?? ctx.io.cwd, i.localPath) }]
        : [],
    ),
  ];
}

export async function runExport(o: ExportOptions, ctx: CommandContext): Promise<void> {
  // A delta is never presented as complete: without -o its name says delta.
  if (o.output === undefined)
    o.output = o.base !== undefined || o.have !== undefined ? DEFAULT_DELTA_OUTPUT : DEFAULT_OUTPUT;
  const { compression: compress, warning } = compressionForOutput(o.output, o.compress);
  if (warning && atLeast(ctx.level ?? 'info', 'warn')) say(ctx.io, 'warning', warning);
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 256);
  const splitSize = splitSizeOf(ctx, o);
  const http = { retries: retriesOf(o) };
  const catalog = await catalogFor(ctx, o.catalogDir);
  const parsed = await readManifests(ctx, o.manifest);
  const manifests = parsed.map((p) => p.manifest);
  const { downloads, profile } = await downloadsFor(ctx, catalog, parsed, o.kkVersion);
  assertBinaryChecksums(downloads.binaries, catalog);
  const policy = await policyFor(ctx, o);
  const classify = (ref: string): string | undefined => catalog.classify(ref);
  const have = o.dryRun ? undefined : await haveListFor(ctx, o, catalog);
  if (o.dryRun) {
    const plan = planArtifact(manifests, policy, classify, downloads);
    if (o.json) printJson(ctx, plan);
    else {
      for (const i of plan.images)
        ctx.io.stdout(
          `${i.refName}  <-  ${i.sources.map((s) => `${formatReference(s.ref)} (${s.via})`).join(' | ')}\n`,
        );
      for (const f of [...plan.binaries, ...plan.isos]) ctx.io.stdout(`${f.path}  <-  ${f.sources.join(' | ')}\n`);
    }
    return;
  }
  const toStdout = o.output === '-';
  if (toStdout && !ctx.io.stdoutStream)
    throw new KkoError('INVALID_INPUT', '--output -: no standard output stream to write to');
  if (toStdout && ctx.io.isTTY)
    throw new KkoError('INVALID_INPUT', '--output -: refusing to write an archive to a terminal', {
      hint: 'redirect stdout to a file or a pipe',
    });
  const output = toStdout ? '-' : absPath(ctx, o.output);
  if (splitSize !== undefined) await assertPartsWritable(output, Boolean(o.force));
  else if (!toStdout) {
    await assertNotAnInput(output, exportInputs(ctx, o, downloads));
    await assertWritable(output, Boolean(o.force));
  }
  const signer = o.signKey === undefined ? undefined : await signerOf(ctx, o.signKey);
  const preflight = await supplySteps(ctx, o, parsed);
  const level = ctx.level ?? 'info';
  const progress = progressSinks(ctx, Boolean(o.json), toStdout);
  // Info lines (leftovers removed …) on a terminal; a redirected stderr gets them with --verbose only.
  const logger = cliLogger(ctx.io, () => (level === 'info' && !progress.bars ? 'warn' : level), progress.around);
  const report = await exportArtifact({
    manifests,
    policy,
    cacheDir: cacheDirFor(ctx, o.cache),
    output,
    compress,
    concurrency,
    keepGoing: Boolean(o.keepGoing),
    env: ctx.io.env,
    classify,
    events: progress.events,
    logger,
    downloader: { logger },
    http,
    downloads,
    ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    ...(profile ? { profile } : {}),
    ...(splitSize !== undefined ? { splitSize } : {}),
    ...(signer ? { signer } : {}),
    ...(preflight.length > 0 ? { preflight } : {}),
    ...(have ? { have } : {}),
    ...(toStdout && ctx.io.stdoutStream ? { stdout: ctx.io.stdoutStream } : {}),
  });
  progress.finish(report.failures.length === 0);
  if (report.failures.length > 0) {
    reportFailures(ctx, report.failures);
    ctx.io.stderr(
      `${report.failures.length} of ${report.items} item(s) failed; nothing was written to ${output}. Re-run to fetch only what is missing.\n`,
    );
    ctx.setExit(EXIT_FAILURE);
    return;
  }
  if (progress.bars && atLeast(level, 'info')) {
    const unique = new Map(report.images.flatMap((i) => i.blobs.map((b) => [b.digest, b.size] as const)));
    const size = [...unique.values()].reduce((n, b) => n + b, 0);
    ctx.io.stderr(
      `exported ${report.delta ? 'a delta of ' : ''}${report.images.length} image(s) and ${report.files.length} file(s) for ${report.plan.arches.join(', ')} to ${report.parts ? `${report.parts.length} part(s) ${output}.part-* (sha256 list in ${partsListName(output)})` : output} (${formatBytes(size)} of unique image content, ${formatBytes(report.fetchedBytes)} fetched this run)\n`,
    );
    if (report.delta)
      ctx.io.stderr(
        `left out, as the base ${report.delta.base.artifact ?? ''} holds them: ${report.delta.omitted.blobs.length} blob(s) and ${report.delta.omitted.files.length} file(s); import and push need the base\n`,
      );
  }
}

// Where the export's events go. Bars when stderr is a terminal (not with --quiet, nor when --json events share that
// terminal); NDJSON on stdout with --json or when stdout is not a terminal (on stderr when the archive is on
// stdout and stderr is no terminal). Warnings reach stderr in any case (unless --log-level error), above the bars.
function progressSinks(
  ctx: CommandContext,
  json: boolean,
  toStdout: boolean,
): { events: EventSink; finish: (ok: boolean) => void; bars: boolean; around: (write: () => void) => void } {
  const level = ctx.level ?? 'info';
  const io = ctx.io;
  const bars = Boolean(io.stderrIsTTY) && atLeast(level, 'info') && !(json && (io.isTTY || toStdout));
  const tty = bars ? ttyRenderer(io) : undefined;
  const ndjson = toStdout
    ? tty
      ? undefined
      : ndjsonRenderer({ ...io, stdout: io.stderr })
    : json || !io.isTTY
      ? ndjsonRenderer(io)
      : undefined;
  const warnings = !tty && (!ndjson || !toStdout) && atLeast(level, 'warn');
  const events: EventSink = (e) => {
    if (tty && (e.type !== 'warning' || atLeast(level, 'warn'))) tty.onEvent(e);
    ndjson?.(e);
    if (warnings && e.type === 'warning') say(io, 'warning', e.message);
  };
  // Log lines go above the bars, which are drawn again below them.
  return { events, finish: (ok) => tty?.finish(ok), bars, around: tty ? tty.above : (w) => w() };
}

// One error per cause: items that failed the same way (one mirror down for 22 images) are reported once, with the
// items listed under it; the count of items and the hint follow.
function reportFailures(ctx: CommandContext, failures: ExportReport['failures']): void {
  const items = failures.map((f) => ({
    item: f.image ? `${f.image.ref} (${f.image.arch})` : (f.file?.item.path ?? '?'),
    error: f.error,
  }));
  const groups = groupFailures(items.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0))); // by name, not by who failed first
  for (const g of groups) {
    say(ctx.io, 'error', redactText(g.message));
    if (g.items.length > 1) ctx.io.stderr(`  items: ${byRef(g.items).join(', ')}\n`);
    if (g.hint) say(ctx.io, 'hint', g.hint);
  }
}

// "x:1 (amd64)", "x:1 (arm64)" → "x:1 (amd64, arm64)", in first-seen order.
function byRef(items: readonly string[]): string[] {
  const arches = new Map<string, string[]>();
  for (const i of items) {
    const m = /^(.*) \(([^()]+)\)$/.exec(i);
    const [name, arch] = m ? [m[1] as string, m[2] as string] : [i, ''];
    arches.set(name, [...(arches.get(name) ?? []), ...(arch ? [arch] : [])]);
  }
  return [...arches].map(([name, a]) => (a.length > 0 ? `${name} (${a.join(', ')})` : name));
}
