import type { ExportEvent } from '../export/index.js';
import { formatBytes } from '../util/bytes.js';
import { safeText } from '../util/safe-text.js';
import type { CliIo } from './io.js';
import { say } from './output.js';

export { formatBytes };

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

// NDJSON on stdout (non-TTY or --json): every event except raw byte counts and file sizes, which become a
// "progress" event at most twice a second; its totalBytes is the same never-shrinking total the bars show.
export function ndjsonRenderer(io: CliIo, now: () => number = Date.now): (e: ExportEvent) => void {
  const totals = new ProgressTotals();
  let last = 0;
  return (e) => {
    totals.onEvent(e);
    if (e.type === 'resolved' && e.images < e.of) return; // running totals feed the progress lines; only the final one is an event
    if (e.type === 'file-size') return;
    if (e.type === 'bytes') {
      if (now() - last < 500) return;
      last = now();
      io.stdout(`${JSON.stringify({ type: 'progress', fetchedBytes: totals.fetched, totalBytes: totals.total })}\n`);
      return;
    }
    io.stdout(`${JSON.stringify(e)}\n`);
  };
}

type Active = { name: string; detail: string; size: number | undefined; done: number };
type Count = { of: number; done: number; failed: number };

// What the bars show, from the events alone. The total is every image's bytes to fetch (known as each resolves:
// the plan's sizes are in the manifests) plus every file's size (learned from its source's headers); it only ever
// grows, and the fraction shown never goes back (a size learned late cannot pull the bar backwards).
export class ProgressTotals {
  fetched = 0;
  #imageBytes = 0;
  readonly #fileSizes = new Map<string, number>();
  #fileBytes = 0; // the sum of #fileSizes
  readonly #fileKnown = new Set<string>(); // files whose size is known or that are done (cached: nothing to fetch)
  #total = 0;
  #fraction = 0;
  allResolved = false;
  readonly images: Count = { of: 0, done: 0, failed: 0 };
  readonly files: Count = { of: 0, done: 0, failed: 0 };
  readonly active = new Map<string, Active>();
  // Bytes of an image that arrived before its image-start (its layers start while its config is checked, #10):
  // its line starts from them.
  readonly #early = new Map<string, number>();

  get total(): number {
    return this.#total;
  }

  // Every image resolved and every file's size known (or the file settled): the total will not grow any more.
  get totalFinal(): boolean {
    return this.allResolved && this.#fileKnown.size >= this.files.of;
  }

  fraction(finished = false): number {
    if (finished) this.#fraction = 1;
    else if (this.#total > 0) this.#fraction = Math.max(this.#fraction, Math.min(1, this.fetched / this.#total));
    return this.#fraction;
  }

  onEvent(e: ExportEvent): void {
    switch (e.type) {
      case 'plan':
        this.images.of = e.images;
        this.files.of = e.files;
        break;
      case 'resolved':
        this.#imageBytes = Math.max(this.#imageBytes, e.totalBytes - e.cachedBytes);
        this.allResolved = e.images >= e.of;
        break;
      case 'image-start': {
        const key = `image ${e.ref} ${e.arch}`;
        this.active.set(key, { name: e.ref, detail: e.arch, size: e.size, done: this.#early.get(key) ?? 0 });
        this.#early.delete(key);
        break;
      }
      case 'file-start':
        this.active.set(`file ${e.path} ${e.arch}`, { name: e.path, detail: '', size: undefined, done: 0 });
        break;
      case 'file-size': {
        const a = this.active.get(`file ${e.path} ${e.arch}`);
        if (a) a.size = e.size;
        const key = `${e.path} ${e.arch}`;
        const was = this.#fileSizes.get(key) ?? 0;
        if (e.size > was) {
          this.#fileSizes.set(key, e.size);
          this.#fileBytes += e.size - was;
        }
        this.#fileKnown.add(e.path);
        break;
      }
      case 'bytes': {
        // One per chunk that arrives: only the counts move.
        this.fetched += e.fetched;
        const image = `image ${e.ref} ${e.arch}`;
        const a = this.active.get(image) ?? this.active.get(`file ${e.ref} ${e.arch}`);
        if (a) a.done += e.fetched;
        else this.#early.set(image, (this.#early.get(image) ?? 0) + e.fetched);
        this.#total = Math.max(this.#total, this.fetched);
        return;
      }
      case 'image-done':
      case 'image-failed':
        this.active.delete(`image ${e.ref} ${e.arch}`);
        this.#early.delete(`image ${e.ref} ${e.arch}`);
        this.images[e.type === 'image-done' ? 'done' : 'failed']++;
        break;
      case 'file-done':
      case 'file-failed':
        for (const k of this.active.keys()) if (k.startsWith(`file ${e.path} `)) this.active.delete(k);
        this.#fileKnown.add(e.path);
        this.files[e.type === 'file-done' ? 'done' : 'failed']++;
        break;
      default:
    }
    this.#total = Math.max(this.#total, this.#imageBytes + this.#fileBytes, this.fetched);
  }
}

const bar = (frac: number, width = 24): string => {
  const n = Math.max(0, Math.min(width, Math.floor(frac * width)));
  return `[${'='.repeat(n)}${' '.repeat(width - n)}]`;
};

const count = (what: string, c: Count): string =>
  c.of === 0 ? '' : `  ${what} ${c.done}/${c.of}${c.failed ? ` (${c.failed} failed)` : ''}`;

// Bars on a TTY (stderr): overall bytes with percent, rate and ETA, counts of images and files, then one line per
// image or file in flight with its name and bytes. finish(true) draws the final line at 100 %.
export function ttyRenderer(
  io: CliIo,
  now: () => number = Date.now,
): { onEvent: (e: ExportEvent) => void; finish: (ok?: boolean) => void; above: (write: () => void) => void } {
  const t = new ProgressTotals();
  const frame = io.frame ?? io.stderr; // raw: our cursor codes; the data in the lines is escaped with safeText
  const start = now();
  let drawn = 0;
  let lastDraw = 0;
  let archiving = false;
  const lines = (finished: boolean): string[] => {
    const secs = Math.max(0.001, (now() - start) / 1000);
    const rate = t.fetched / secs;
    const frac = t.fraction(finished);
    const total = finished ? Math.max(t.total, t.fetched) : t.total;
    const eta = finished ? 0 : t.allResolved && rate > 0 ? Math.max(0, total - t.fetched) / rate : Infinity;
    const of = t.totalFinal || finished ? formatBytes(total) : `${formatBytes(total)}+`;
    const pct = `${String(Math.floor(frac * 100)).padStart(3)}%`;
    const head = `${bar(frac)} ${pct} ${formatBytes(finished ? total : t.fetched)}/${of} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}${count('images', t.images)}${count('files', t.files)}`;
    if (finished) return [head];
    const rows = [...t.active.values()]
      .slice(0, 8)
      .map(
        (a) =>
          `  ${bar(a.size ? a.done / a.size : 0, 12)} ${safeText(a.name)}${a.detail ? ` ${safeText(a.detail)}` : ''} ${formatBytes(a.done)}/${a.size === undefined ? '?' : formatBytes(a.size)}`,
      );
    return [head, ...rows];
  };
  // Cursor up over the last frame, then each line cleared and written; leftover lines of a taller frame are cleared.
  const draw = (force = false, finished = false): void => {
    if (!force && now() - lastDraw < 150) return;
    lastDraw = now();
    const ls = lines(finished);
    const up = drawn > 0 ? `\x1b[${drawn}A` : '';
    frame(`${up}${ls.map((l) => `\x1b[2K${l}`).join('\n')}\n${drawn > ls.length ? '\x1b[J' : ''}`);
    drawn = ls.length;
  };
  // A message above the bars: they are erased, the message printed, and drawn again below it.
  const above = (write: () => void): void => {
    if (drawn > 0) frame(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
    write();
  };
  const onEvent = (e: ExportEvent): void => {
    t.onEvent(e);
    if (e.type === 'warning') above(() => say(io, 'warning', e.message));
    else if (e.type === 'archive-start') {
      draw(true, true);
      io.stderr(`writing ${e.path} (${e.entries} entries, ${e.compress})…\n`);
      drawn = 0; // the final bar above stays as it is
      archiving = true;
      return;
    }
    if (!archiving) draw(e.type !== 'bytes' && e.type !== 'file-size');
  };
  return {
    onEvent,
    finish: (ok = false) => (archiving ? undefined : draw(true, ok)),
    above: (write) => (archiving ? write() : (above(write), draw(true))),
  };
}
