import type { Command } from 'commander';
import type { Catalog, ClusterChoices } from '../../catalog/index.js';
import { formatIssue, type Issue } from '../../errors.js';
import { inferChoices, kkRules, loadClusterConfig, loadManifestFile, mergeManifests, runRules, type ParsedManifest, type RegistryFacts } from '../../manifest/index.js';
import { safeText } from '../../util/safe-text.js';
import { positionOf, sortIssues } from '../../util/yaml-doc.js';
import { EXIT_FAILURE, EXIT_INVALID } from '../io.js';
import { formatBytes } from '../progress.js';
import { addNetworkOptions, type NetworkOptions } from './artifact.js';
import { runOnlineCheck } from './precheck.js';
import { absPath, catalogFor, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';

type ValidateOptions = NetworkOptions & { file: string[]; cluster?: string; kkVersion?: string; json?: boolean; online?: boolean };

// Choices for completeness: --cluster config over the manifest's own record; a kk manifest gets them inferred.
async function choicesFor(ctx: CommandContext, catalog: Catalog, o: ValidateOptions, parsed: ParsedManifest[], kkVersion: string, issues: Issue[]): Promise<{ choices: ClusterChoices; source: string; registry?: RegistryFacts }> {
  const merged = mergeManifests(parsed.map((p) => p.manifest));
  const kko = merged.spec.kko;
  let choices: ClusterChoices;
  let source: string;
  if (kko) {
    choices = { ...kko.cluster, kkVersion, zone: kko.zone, kubernetes: (merged.spec.kubernetesDistributions ?? []).map((d) => d.version), arches: (merged.spec.arches ?? []) as ClusterChoices['arches'], addons: kko.addons };
    source = 'recorded';
  } else {
    choices = inferChoices(catalog, merged, kkVersion);
    source = 'inferred';
    issues.push({ severity: 'info', code: 'INFERRED_CHOICES', message: `no kko record: cluster choices inferred from the images (cni ${choices.cni.join(',')}, lb ${choices.lb}, etcd ${choices.etcdType}, runtime ${choices.containerManager}${choices.addons.map((a) => `, ${a.name} ${a.version}`).join('')})`, file: parsed[0]?.file, hint: 'pass --cluster kk-config.yaml for an exact completeness check' });
  }
  if (o.cluster) {
    const facts = await loadClusterConfig(absPath(ctx, o.cluster));
    issues.push(...facts.issues);
    choices = { ...choices, ...facts.choices, zone: choices.zone, kkVersion };
    return { choices, source: 'cluster', ...(facts.registry ? { registry: facts.registry } : {}) };
  }
  return { choices, source };
}

async function runValidate(o: ValidateOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const issues: Issue[] = [];
  const parsed: ParsedManifest[] = [];
  for (const f of o.file) {
    const r = await loadManifestFile(absPath(ctx, f));
    issues.push(...r.issues);
    if (r.parsed) {
      issues.push(...kkRules(r.parsed));
      parsed.push(r.parsed);
    }
  }
  let kkVersion: string | undefined;
  let source: string | undefined;
  if (parsed.length === o.file.length && !issues.some((i) => i.severity === 'error')) {
    const recorded = parsed.map((p) => p.manifest.spec.kko?.kkVersion).find(Boolean);
    kkVersion = await resolveKkVersion(ctx, catalog, o.kkVersion, recorded);
    const picked = await choicesFor(ctx, catalog, o, parsed, kkVersion, issues);
    source = picked.source;
    const manifest = mergeManifests(parsed.map((p) => p.manifest));
    issues.push(...runRules({ catalog, profile: catalog.profile(kkVersion), manifest, choices: picked.choices, files: parsed, ...(picked.registry ? { registry: picked.registry } : {}) }));
    if (o.online) issues.push(...(await onlineIssues(ctx, catalog, parsed, { ...o, kkVersion })));
  }
  const sorted = sortIssues(issues);
  const errors = sorted.filter((i) => i.severity === 'error').length;
  const warnings = sorted.filter((i) => i.severity === 'warning').length;
  if (o.json) {
    printJson(ctx, { valid: errors === 0, kkVersion: kkVersion ?? null, choices: source ?? null, errors, warnings, issues: sorted });
  } else {
    for (const i of sorted) {
      const out = i.severity === 'info' ? ctx.io.stdout : ctx.io.stderr;
      out(`${safeText(formatIssue(i))}\n`);
      if (i.hint) out(`  hint: ${i.hint}\n`);
    }
    const summary = `${o.file.join(', ')}: ${errors} error(s), ${warnings} warning(s)${kkVersion ? ` against kk ${kkVersion}` : ''}\n`;
    (errors > 0 ? ctx.io.stderr : ctx.io.stdout)(summary);
  }
  const offline = sorted.some((i) => i.severity === 'error' && !ONLINE_CODES.has(i.code));
  if (errors > 0) ctx.setExit(offline ? EXIT_INVALID : EXIT_FAILURE);
}

const ONLINE_CODES = new Set(['ONLINE', 'DISK_SPACE', 'NETWORK_ERROR', 'MIRRORS_EXHAUSTED', 'WRONG_PLATFORM', 'PLATFORM_NOT_FOUND', 'MANIFEST_UNKNOWN', 'UNAUTHORIZED', 'REGISTRY_ERROR', 'DIGEST_MISMATCH', 'INVALID_IMAGE_MANIFEST']);

// --online: each image × arch that does not resolve becomes an issue at its spec.images line; disk and size as info/errors.
async function onlineIssues(ctx: CommandContext, catalog: Catalog, parsed: ParsedManifest[], o: ValidateOptions): Promise<Issue[]> {
  const report = await runOnlineCheck(ctx, catalog, parsed, o);
  const where = (ref: string): Partial<Issue> => {
    for (const f of parsed) {
      const i = (f.manifest.spec.images ?? []).indexOf(ref);
      if (i >= 0) return { file: f.file, path: `spec.images[${i}]`, ...positionOf(f.doc, f.source.lines, ['spec', 'images', i]) };
    }
    return {};
  };
  const out: Issue[] = report.images
    .filter((i) => !i.ok)
    .map((i) => ({ severity: 'error', code: i.code && ONLINE_CODES.has(i.code) ? i.code : 'ONLINE', message: `${i.ref} (${i.arch}): ${i.message}`, ...where(i.ref) }));
  for (const f of report.files.filter((x) => !x.ok)) {
    out.push({ severity: 'error', code: f.code && ONLINE_CODES.has(f.code) ? f.code : 'ONLINE', message: `${f.path}: ${f.message}`, file: parsed[0]?.file, path: 'spec.components' });
  }
  out.push({ severity: 'info', code: 'SIZE_ESTIMATE', message: `images need ${formatBytes(report.totalBytes)} (layers shared across images counted once), ${formatBytes(report.totalBytes - report.cachedBytes)} not yet cached` });
  for (const d of report.disks.filter((x) => !x.ok)) {
    out.push({ severity: 'error', code: 'DISK_SPACE', message: `${d.path}: ${formatBytes(d.freeBytes)} free, ${formatBytes(d.neededBytes)} needed` });
  }
  return out;
}

const EXAMPLES = `
Examples:
  $ kko manifest validate -f manifest.yaml
  $ kko manifest validate -f base-k8s.yaml -f addon-network.yaml --kk-version v3.1.12
  $ kko manifest validate -f manifest-sample.yaml --cluster config-sample.yaml --json
  $ KKZONE=cn kko manifest validate -f manifest.yaml --online

Exit codes: 0 valid (warnings allowed), 2 errors in the manifest, 1 only --online checks failed.
`;

export function registerValidate(manifest: Command, ctx: CommandContext): void {
  const cmd = manifest
    .command('validate')
    .description('check a manifest: schema, kk rules, versions, completeness against what kk will pull')
    .requiredOption('-f, --file <file>', 'manifest file (repeatable; layers are checked together)', (v: string, p: string[] = []) => [...p, v])
    .option('--cluster <file>', 'kk cluster config (kk create config) to check completeness against')
    .option('--kk-version <version>', 'the kk release that will install (default: recorded, kk on PATH, else newest)')
    .option('--online', 'also resolve every image × arch through the mirror policy, estimate size, check free disk')
    .option('--json', 'print the issues as JSON');
  addNetworkOptions(cmd).addHelpText('after', EXAMPLES).action(async (o: ValidateOptions) => runValidate(o, ctx));
}
