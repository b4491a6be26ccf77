import type { Command } from 'commander';
import { KkoError } from '../../errors.js';
import {
  loadMirrorPolicy,
  resolveDownloadSources,
  resolveImageSources,
  type DownloadRule,
  type DownloadSource,
  type EffectivePolicy,
  type ImageSource,
  type RegistryRule,
  type SettingSource,
} from '../../mirror/index.js';
import { formatReference, parseReference } from '../../reference/index.js';
import { printJson, type CommandContext } from '../context.js';
import { registerMirrorRender } from './mirror-render.js';

type PolicyFlags = { zone?: string; mirrorConfig?: string; json?: boolean; wide?: boolean };

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
    .action(async (flags: PolicyFlags) => listCommand(ctx, flags));
  policyOptions(mirror.command('resolve').argument('<ref-or-url>', 'an image reference, or an http(s):// download URL'))
    .description('list the sources that would be tried, in order, for an image reference or a download URL')
    .addHelpText(
      'after',
      `${POLICY_HELP}\n\nExamples:\n  kko mirror resolve redis:7\n  kko mirror resolve --zone cn quay.io/calico/node:v3.27.3\n` +
        `  kko mirror resolve https://dl.k8s.io/release/v1.28.12/bin/linux/amd64/kubeadm --zone cn --json\n`,
    )
    .action(async (input: string, flags: PolicyFlags) => resolveCommand(ctx, input, flags));
  registerMirrorRender(mirror, ctx);
}

function policyOptions(cmd: Command): Command {
  return cmd
    .option('--zone <zone>', 'mirror zone: default or cn (overrides KKZONE)')
    .option('--mirror-config <file>', 'MirrorPolicy YAML file (overrides KKO_MIRROR_CONFIG)')
    .option('--json', 'print JSON instead of text');
}

async function loadPolicy(ctx: CommandContext, flags: PolicyFlags): Promise<EffectivePolicy> {
  return loadMirrorPolicy({ zone: flags.zone, configFile: flags.mirrorConfig, env: ctx.io.env, cwd: ctx.io.cwd });
}

async function listCommand(ctx: CommandContext, flags: PolicyFlags): Promise<void> {
  const policy = await loadPolicy(ctx, flags);
  if (flags.json) return printJson(ctx, policy);
  const other = policy.blockUpstream ? ['refused', '-', '-', policy.blockUpstream] : ['upstream', '-', 'https', ''];
  const out = [
    ...table([
      ['zone:', `${policy.zone} (${zoneReason(policy)})`],
      [
        'mirror config:',
        policy.configFile
          ? `${policy.configFile} (${configReason(policy.sources.configFile)})`
          : 'none (--mirror-config or KKO_MIRROR_CONFIG)',
      ],
      ['zone rules:', policy.zoneFile],
      ...(policy.blockUpstream ? [['upstream:', `never (${policy.blockUpstream})`]] : []),
    ]),
    '',
    'registries (your rules first, then the longest prefix; sources are tried top to bottom)',
    ...table([
      ['PREFIX', '#', 'SOURCE', 'REWRITE', 'TRANSPORT', 'FROM'],
      ...policy.registries.flatMap((r) => registryRows(r, policy)),
      ['(other)', '1', ...other],
    ]),
    '',
    'downloads (your rules first, then the longest URL prefix; sources are tried top to bottom)',
    ...(flags.wide ? downloadTable(policy) : downloadGroups(policy)),
  ];
  ctx.io.stdout(`${out.join('\n')}\n`);
}

// --wide: one row per source.
function downloadTable(policy: EffectivePolicy): string[] {
  const other = policy.blockUpstream ? ['refused', '-', policy.blockUpstream] : ['upstream', 'verify', ''];
  return table([
    ['PREFIX', '#', 'SOURCE', 'TLS', 'FROM'],
    ...policy.downloads.flatMap((d) => downloadRows(d, policy)),
    ['(other)', '1', ...other],
  ]);
}

// Default: each prefix on its own line with its origin, its numbered sources indented below (fits 100 columns).
function downloadGroups(policy: EffectivePolicy): string[] {
  const groups = policy.downloads.map((d) => ({
    head: `${d.prefix}  (${ruleFrom(d.origin, policy)})`,
    rows: downloadRows(d, policy).map((r) => r.slice(1, 4)),
  }));
  groups.push({
    head: '(other)',
    rows: [['1', ...(policy.blockUpstream ? ['refused', policy.blockUpstream] : ['upstream', 'verify'])]],
  });
  const widths = table(groups.flatMap((g) => g.rows));
  let i = 0;
  return groups.flatMap((g) => [g.head, ...g.rows.map(() => `  ${widths[i++] ?? ''}`)]);
}

async function resolveCommand(ctx: CommandContext, input: string, flags: PolicyFlags): Promise<void> {
  const policy = await loadPolicy(ctx, flags);
  const isUrl = /^https?:\/\//i.test(input);
  const ref = isUrl ? undefined : parseReference(input);
  const name = ref ? formatReference(ref) : input;
  const sources = ref ? resolveImageSources(ref, policy) : resolveDownloadSources(input, policy);
  if (sources.length === 0) {
    throw new KkoError('MIRRORS_EXHAUSTED', `resolving ${name}: no mirror serves it and its rule has upstream: false`, {
      hint: 'check the rule\'s mirrors and pullFrom with "kko mirror list"',
    });
  }
  if (flags.json) {
    const shown = ref ? (sources as ImageSource[]).map((s) => ({ image: formatReference(s.ref), ...s })) : sources;
    return printJson(ctx, { input, kind: ref ? 'image' : 'download', name, zone: policy.zone, sources: shown });
  }
  const header = `${ref ? 'image' : 'download'} ${name} (zone ${policy.zone}: ${zoneReason(policy)})${policy.blockUpstream ? `; upstream refused by ${policy.blockUpstream}` : ''}`;
  const rows = ref ? (sources as ImageSource[]).map(imageRow) : (sources as DownloadSource[]).map(downloadRow);
  const head = ref ? ['#', 'VIA', 'SOURCE', 'TRANSPORT', 'RULE'] : ['#', 'VIA', 'URL', 'TLS', 'RULE'];
  const numbered = rows.map((r, i) => [String(i + 1), ...r]);
  ctx.io.stdout(`${[header, ...table([head, ...numbered])].join('\n')}\n`);
}

function registryRows(r: RegistryRule, policy: EffectivePolicy): string[][] {
  const from = ruleFrom(r.origin, policy);
  const rows = r.mirrors.map((m) => [
    m.location,
    m.pullFrom === 'all' ? m.rewrite : `${m.rewrite}, ${m.pullFrom}`,
    transport(m),
  ]);
  if (r.upstream)
    rows.push(
      policy.blockUpstream
        ? [`${r.prefix} (upstream refused)`, '-', '-']
        : [`${r.prefix} (upstream)`, '-', transport(r)],
    );
  return rows.map((row, i) => [i === 0 ? r.prefix : '', String(i + 1), ...row, i === 0 ? from : '']);
}

function downloadRows(d: DownloadRule, policy: EffectivePolicy): string[][] {
  const from = ruleFrom(d.origin, policy);
  const rows = d.mirrors.map((m) => [m.location, tlsText(m)]);
  if (d.upstream) rows.push(policy.blockUpstream ? ['(upstream refused)', '-'] : ['(upstream)', 'verify']);
  return rows.map((row, i) => [i === 0 ? d.prefix : '', String(i + 1), ...row, i === 0 ? from : '']);
}

function imageRow(s: ImageSource): string[] {
  return [s.via, formatReference(s.ref), transport(s), s.rule ?? '(no rule)'];
}

function downloadRow(s: DownloadSource): string[] {
  return [s.via, s.url, tlsText(s), s.rule ?? '(no rule)'];
}

function transport(t: { plainHTTP: boolean; skipTLSVerify: boolean; certsPath?: string | undefined }): string {
  return t.plainHTTP
    ? 'http'
    : `https${t.skipTLSVerify ? ' (no verify)' : ''}${t.certsPath ? ` certs=${t.certsPath}` : ''}`;
}

function tlsText(t: { skipTLSVerify: boolean; certsPath?: string | undefined }): string {
  return `${t.skipTLSVerify ? 'no verify' : 'verify'}${t.certsPath ? ` certs=${t.certsPath}` : ''}`;
}

function ruleFrom(origin: RegistryRule['origin'], policy: EffectivePolicy): string {
  return origin === 'file' ? 'mirror config' : `zone ${policy.zone}`;
}

function zoneReason(policy: EffectivePolicy): string {
  const reasons: Record<SettingSource, string> = {
    flag: '--zone flag',
    env: 'KKZONE env',
    file: `zone: in ${policy.configFile ?? 'the mirror config'}`,
    default: 'default',
  };
  return reasons[policy.sources.zone];
}

function configReason(source: SettingSource): string {
  return source === 'flag' ? '--mirror-config flag' : source === 'env' ? 'KKO_MIRROR_CONFIG env' : source;
}

// Left-aligned columns separated by two spaces; trailing blanks trimmed.
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}
