import { diffManifests } from '../../manifest/index.js';
import { catalogFor, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { readManifests } from './manifest-read.js';
import type { DiffOptions } from '../commands/manifest-diff.js';

export async function runDiff(oldFile: string, newFile: string, o: DiffOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const [a, b] = await readManifests(ctx, [oldFile, newFile]);
  if (!a || !b) return;
  const kk = await resolveKkVersion(
    ctx,
    catalog,
    o.kkVersion,
    b.manifest.spec.kko?.kkVersion ?? a.manifest.spec.kko?.kkVersion,
  );
  const changes = diffManifests(catalog, catalog.profile(kk), a.manifest, b.manifest);
  if (o.exitCode && changes.length > 0) ctx.setExit(EXIT_FAILURE); // like git diff --exit-code
  if (o.json) {
    printJson(ctx, changes);
    return;
  }
  const mark = { added: '+', removed: '-', changed: '~' } as const;
  for (const c of changes) {
    const detail = c.change === 'changed' ? `${c.from} -> ${c.to}` : (c.to ?? c.from);
    ctx.io.stdout(`${mark[c.change]} ${c.kind.padEnd(6)} ${c.name} ${detail}\n`);
  }
  if (changes.length === 0) ctx.io.stdout('no differences in images or binaries\n');
}
