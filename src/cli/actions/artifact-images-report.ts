import { KkoError } from '../../errors.js';
import type { ExportEvent } from '../../export/index.js';
import {
  carriedTotals,
  type CarriedResult,
  type CheckReport,
  type PushEvent,
  type PushPlan,
  type PushReport,
} from '../../push/index.js';
import { formatReference } from '../../reference/index.js';
import { safeText } from '../../util/safe-text.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { atLeast, say } from '../output.js';
import { formatBytes, ttyRenderer } from '../progress.js';

// How `kko artifact images push` and `check` show what they did: the human summary (stdout lines, one stderr
// total) and --json (push: NDJSON events; check: one report).

const KIND_NAMES: Record<string, string> = {
  signature: 'signature(s)',
  referrer: 'referrer(s)',
  'referrers-index': 'referrers index(es)',
};

// "2 signature(s) pushed, 1 present; 3 referrer(s) pushed" from carriedTotals (kinds and outcomes in a fixed order).
function carriedSummary(totals: Record<string, Record<string, number>>): string {
  return Object.keys(KIND_NAMES)
    .filter((k) => totals[k])
    .map((k) => {
      const t = totals[k] as Record<string, number>;
      const parts = Object.keys(t)
        .sort()
        .map((o) => `${t[o]} ${o}`);
      return `${KIND_NAMES[k]} ${parts.join(', ')}`;
    })
    .join('; ');
}

// --dry-run: every name the push creates, index first, its per-arch tags under it.
export function printPlan(
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

// NDJSON of the push events (--json, or stdout not a terminal), bars on a terminal stderr. A carried manifest the
// push left (a referrers tag holding something else) is a warning on stderr either way.
export function pushSink(
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
      if (e.type === 'carried' && e.warning && atLeast(ctx.level ?? 'info', 'warn'))
        say(io, 'warning', safeText(e.warning));
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

const carriedLine = (c: { kind: string; name: string; digest: string }, outcome: string): string =>
  `  ${outcome} ${c.kind} ${safeText(c.name)} ${c.digest}\n`;

function byImage<T extends { image: string }>(list: readonly T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const c of list) m.set(c.image, [...(m.get(c.image) ?? []), c]);
  return m;
}

// The failures (stderr, with hints), then each pushed name and, under it, its carried signatures and referrers
// (stdout), then one total line (stderr). Exit 1 when an image failed.
export function printPushReport(ctx: CommandContext, r: PushReport, json: boolean): void {
  for (const f of r.failures) {
    say(
      ctx.io,
      'error',
      `pushing ${safeText(f.name)} (from ${safeText(f.source)}): ${f.error instanceof Error ? safeText(f.error.message) : String(f.error)}`,
    );
    if (f.error instanceof KkoError && f.error.hint) say(ctx.io, 'hint', f.error.hint, '  ');
  }
  if (!json && atLeast(ctx.level ?? 'info', 'info')) {
    const carried = byImage<CarriedResult>(r.carried);
    for (const p of r.pushed) {
      ctx.io.stdout(`pushed ${safeText(p.name)} (${p.platforms.join(', ')}) ${p.digest}\n`);
      for (const c of carried.get(p.name) ?? []) ctx.io.stdout(carriedLine(c, c.how));
    }
    const totals = carriedSummary(carriedTotals(r.carried, (c) => c.how));
    ctx.io.stderr(
      `${r.pushed.length} image(s) pushed, ${r.failures.length} failed; ${formatBytes(r.bytesSent)} of blobs sent, ${r.mounted} mounted, in ${r.seconds.toFixed(1)} s${totals ? `; carried: ${totals}` : ''}\n`,
    );
  }
  if (r.failures.length > 0) {
    ctx.io.stderr(
      `${r.failures.length} image(s) not pushed: their tags were not created. Re-run to push only what is missing.\n`,
    );
    ctx.setExit(EXIT_FAILURE);
  }
}

// check: one line per name (and, under it, its carried manifests), then one stderr total. Exit 1 when not all there.
export function printCheckReport(ctx: CommandContext, report: CheckReport, json: boolean): void {
  if (json) printJson(ctx, report);
  else {
    for (const i of report.images) {
      ctx.io.stdout(
        `${i.status.padEnd(10)} ${safeText(i.name)}${i.missing.length > 0 ? `  (${i.status === 'different' ? 'other content for' : 'no'} ${i.missing.join(', ')})` : ''}\n`,
      );
      for (const c of i.carried) ctx.io.stdout(carriedLine(c, c.status));
    }
    const bad = report.images.filter((i) => i.status !== 'ok');
    const carried = report.images.flatMap((i) => i.carried);
    const badCarried = carried.filter((c) => c.status !== 'present');
    const totals = carriedSummary(report.carried);
    ctx.io.stderr(
      `${
        bad.length === 0
          ? `all ${report.images.length} name(s) present`
          : `${bad.length} of ${report.images.length} name(s) missing or incomplete: ${bad.map((i) => safeText(i.name)).join(', ')}`
      }${totals ? `; carried: ${totals}` : ''}\n`,
    );
    if (badCarried.length > 0)
      ctx.io.stderr(
        `${badCarried.length} of ${carried.length} carried signature(s) / referrer(s) not in the registry as the artifact has them: ${badCarried.map((c) => `${safeText(c.name)} (${c.status})`).join(', ')}\n`,
      );
  }
  if (!report.ok) ctx.setExit(EXIT_FAILURE);
}
