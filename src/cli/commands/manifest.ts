import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { registerCreate } from './manifest-create.js';
import { registerDiff } from './manifest-diff.js';
import { registerImages } from './manifest-images.js';
import { registerLock } from './manifest-lock.js';
import { registerMerge } from './manifest-merge.js';
import { registerValidate } from './manifest-validate.js';

// `kko manifest …`: create, validate, images, diff, merge, lock.
export function registerManifestCommands(program: Command, ctx: CommandContext): void {
  const manifest = program
    .command('manifest')
    .description('create, validate, list, diff, merge and lock KubeKey manifests');
  registerCreate(manifest, ctx);
  registerValidate(manifest, ctx);
  registerImages(manifest, ctx);
  registerDiff(manifest, ctx);
  registerMerge(manifest, ctx);
  registerLock(manifest, ctx);
}
