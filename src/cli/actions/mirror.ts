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
import type { PolicyFlags } from '../commands/mirror.js';

async function loadPolicy(ctx: CommandContext, flags: PolicyFlags): Promise<EffectivePolicy> {
  return loadMirrorPolicy({ zone: flags.zone, configFile: flags.mirrorConfig, env: ctx.io.env, cwd: ctx.io.cwd });
}

export async function listCommand(ctx: CommandContext, flags: PolicyFlags): Promise<void> {
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

export async function resolveCommand(ctx: CommandContext, input: string, flags: PolicyFlags): Promise<void> {
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
