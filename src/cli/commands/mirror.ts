import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ZONE_HELP } from './help-texts.js';
import { registerMirrorRender } from './mirror-render.js';

export type PolicyFlags = { zone?: string; mirrorConfig?: string; json?: boolean; wide?: boolean };

const POLICY_HELP = `
The zone is --zone, else $KKZONE (only "cn"), else the mirror config's "zone:", else "default".
The mirror config is --mirror-config, else $KKO_MIRROR_CONFIG. A matching rule from it beats the
zone's rules; among rules of one origin the longest matching prefix wins (whole path segments for
images, plain string prefix for URLs). The winning rule's sources are tried in order.`;

// `kko mirror list|resolve`: show the effective mirror policy and what would be tried for one image or URL.
export function registerMirrorCommands(program: Command, ctx: CommandContext): void {
  const mirror = program.command('mirror').description('show and resolve the zone-aware mirror policy');
  policyOptions(mirror.command('list'))
    .option('--wide', 'one table row per download source (wider than 100 columns)')
    .description('show the effective mirror rules, their fallback order, and which zone and config are in effect')
    .addHelpText(
      'after',
      `${POLICY_HELP}\n\nExamples:\n  kko mirror list\n  KKZONE=cn kko mirror list\n  kko mirror list --mirror-config mirrors.yaml --json\n`,
    )
    .action(async (flags: PolicyFlags) => (await import('../actions/mirror.js')).listCommand(ctx, flags));
  policyOptions(mirror.command('resolve').argument('<ref-or-url>', 'an image reference, or an http(s):// download URL'))
    .description('list the sources that would be tried, in order, for an image reference or a download URL')
    .addHelpText(
      'after',
      `${POLICY_HELP}\n\nExamples:\n  kko mirror resolve redis:7\n  kko mirror resolve --zone cn quay.io/calico/node:v3.27.3\n` +
        `  kko mirror resolve https://dl.k8s.io/release/v1.28.12/bin/linux/amd64/kubeadm --zone cn --json\n`,
    )
    .action(async (input: string, flags: PolicyFlags) =>
      (await import('../actions/mirror.js')).resolveCommand(ctx, input, flags),
    );
  registerMirrorRender(mirror, ctx);
}

function policyOptions(cmd: Command): Command {
  return cmd
    .option('--zone <zone>', ZONE_HELP)
    .option('--mirror-config <file>', 'MirrorPolicy YAML file (overrides KKO_MIRROR_CONFIG)')
    .option('--json', 'print JSON instead of text');
}
