import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { addNetworkOptions, type NetworkOptions } from './artifact.js';

export type LockOptions = NetworkOptions & { manifest: string[]; lock?: string; concurrency: string; json?: boolean };

const HELP = `
Examples:
  $ kko manifest lock -m manifest.yaml                      # writes manifest.lock.json next to it
  $ kko manifest lock -m manifest.yaml --mirror-config mirrors.yaml
  $ kko artifact export -m manifest.yaml                    # finds manifest.lock.json: refuses a moved tag
  $ kko artifact export -m manifest.yaml --update-lock      # takes the new digests on purpose

The lock (kko.io/v1alpha1 ManifestLock, schema/manifest-lock.schema.json) records, per image, the digest its tag
resolved to (the index of a multi-arch image, else the manifest) and each arch's manifest digest, resolved through
the mirror policy as export does. It is deterministic: same registry content, same bytes.
Exit codes: 0 written (or unchanged), 1 an image could not be resolved, 2 invalid input.
`;

export function registerLock(manifest: Command, ctx: CommandContext): void {
  addNetworkOptions(
    manifest
      .command('lock')
      .description('resolve every image tag of the manifest(s) to digests (index and per arch) into MANIFEST.lock.json')
      .requiredOption(
        '-m, --manifest <file>',
        'manifest file (repeatable; each gets its own lock)',
        (v: string, p: string[] = []) => [...p, v],
      )
      .option('--lock <file>', 'write the lock here instead of next to the manifest (one -m only)')
      .option('--concurrency <n>', 'parallel resolutions', '8')
      .option('--json', 'print the locks written and the locked images as JSON'),
  )
    .addHelpText('after', HELP)
    .action(async (o: LockOptions) => (await import('../actions/manifest-lock.js')).runLock(o, ctx));
}
