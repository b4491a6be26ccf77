import type { ExportEvent } from '../export/index.js';
import { safeText } from '../util/safe-text.js';
import type { CliIo } from './io.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

type Active = { ref: string; arch: string; size: number; done: number };

// NDJSON on stdout (non-TTY or --json): every event except raw byte counts, which become a
// "progress" event at most twice a second.
export function ndjsonRenderer(io: CliIo, now: () => number = Date.now): (e: ExportEvent) => void {
  let fetched = 0;
  let total = 0;
  let last = 0;
  return (e) => {
    if (e.type === 'resolved') {
      total = e.totalBytes - e.cachedBytes;
      if (e.images < e.of) return; // running totals feed the progress lines; only the final one is an event
    }
    if (e.type === 'bytes') {
      fetched += e.fetched;
      if (now() - last < 500) return;
      last = now();
      io.stdout(`${JSON.stringify({ type: 'progress', fetchedBytes: fetched, totalBytes: total })}\n`);
      return;
    }
    io.stdout(`${JSON.stringify(e)}\n`);
  };
}

// Bars on a TTY (stderr): overall bytes, rate and ETA, then one line per image in flight.
export function ttyRenderer(io: CliIo, now: () => number = Date.now): { onEvent: (e: ExportEvent) => void; finish: () => void } {
  const active = new Map<string, Active>();
  let total = 0;
  let fetched = 0;
  let imagesDone = 0;
  let images = 0;
  let allResolved = false;
  let archiving = false;
  const start = now();
  let drawn = 0;
  let lastDraw = 0;
  const bar = (frac: number, width = 24): string => {
    const n = Math.max(0, Math.min(width, Math.round(frac * width)));
    return `[${'='.repeat(n)}${' '.repeat(width - n)}]`;
  };
  const draw = (force = false): void => {
    if (!force && now() - lastDraw < 150) return;
    lastDraw = now();
    const secs = Math.max(0.001, (now() - start) / 1000);
    const rate = fetched / secs;
    const eta = allResolved && rate > 0 ? Math.max(0, total - fetched) / rate : Infinity;
    const of = allResolved ? formatBytes(total) : `${formatBytes(total)}+`;
    const lines = [`${bar(total ? fetched / total : 0)} ${formatBytes(fetched)}/${of} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}  images ${imagesDone}/${images}`];
    for (const a of [...active.values()].slice(0, 8)) lines.push(`  ${bar(a.size ? a.done / a.size : 0, 12)} ${safeText(a.ref)} ${safeText(a.arch)} ${formatBytes(a.done)}/${formatBytes(a.size)}`);
    // Our cursor codes go to the raw frame writer; the data in the lines is escaped above.
    const frame = io.frame ?? io.stderr;
    const clear = drawn > 0 ? `\x1b[${drawn}A` : '';
    frame(`${clear}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    for (let i = lines.length; i < drawn; i++) frame('\x1b[2K\n');
    drawn = Math.max(lines.length, drawn);
  };
  const onEvent = (e: ExportEvent): void => {
    if (e.type === 'plan') images = e.images;
    else if (e.type === 'resolved') {
      total = e.totalBytes - e.cachedBytes;
      allResolved = e.images >= e.of;
    }
    else if (e.type === 'image-start') active.set(`${e.ref} ${e.arch}`, { ref: e.ref, arch: e.arch, size: e.size, done: 0 });
    else if (e.type === 'bytes') {
      fetched += e.fetched;
      const a = active.get(`${e.ref} ${e.arch}`);
      if (a) a.done += e.fetched;
    } else if (e.type === 'warning') {
      io.stderr(`warning: ${e.message}\n`);
      drawn = 0; // bars are drawn again below the warning
    } else if (e.type === 'archive-start') {
      draw(true);
      io.stderr(`writing ${e.path} (${e.entries} entries, ${e.compress})…\n`);
      drawn = 0; // the bars above stay as they are
      archiving = true;
      return;
    } else if (e.type === 'image-done' || e.type === 'image-failed') {
      active.delete(`${e.ref} ${e.arch}`);
      imagesDone++;
    }
    if (!archiving) draw(e.type !== 'bytes');
  };
  return { onEvent, finish: () => (archiving ? undefined : draw(true)) };
}
