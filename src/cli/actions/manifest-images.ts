import { catalogFor } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { readManifests } from './manifest-read.js';
import type { ImagesOptions } from '../commands/manifest-images.js';

export async function runImages(o: ImagesOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const parsed = await readManifests(ctx, o.file);
  const rows = new Map<string, string>();
  for (const p of parsed) {
    for (const ref of p.manifest.spec.images ?? []) {
      if (!rows.has(ref)) rows.set(ref, p.manifest.spec.kko?.imageClasses[ref] ?? catalog.classify(ref));
    }
  }
  if (o.json) {
    printJson(
      ctx,
      [...rows].map(([ref, cls]) => ({ ref, class: cls })),
    );
    return;
  }
  const width = Math.max(5, ...[...rows.values()].map((c) => c.length));
  for (const [ref, cls] of rows) ctx.io.stdout(`${cls.padEnd(width)} ${ref}\n`);
}
