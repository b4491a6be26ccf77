import type { Command } from 'commander';
import type { Catalog, ClusterChoices } from '../../catalog/index.js';
import { formatIssue, type Issue } from '../../errors.js';
import { inferChoices, kkRules, loadClusterConfig, loadManifestFile, mergeManifests, runRules, type ParsedManifest } from '../../manifest/index.js';
import { sortIssues } from '../../util/yaml-doc.js';
import { EXIT_INVALID } from '../io.js';
import { absPath, catalogFor, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';

type ValidateOptions = { file: string[]; cluster?: string; kkVersion?: string; json?: boolean; catalogDir?: string[] };

// Choices for completeness: --cluster config over the manifest's own record; a kk manifest gets them inferred.
async function choicesFor(ctx: CommandContext, catalog: Catalog, o: ValidateOptions, parsed: ParsedManifest[], kkVersion: string, issues: Issue[]): Promise<{ choices: ClusterChoices; source: string }> {
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
    source = 'cluster';
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
    issues.push(...runRules({ catalog, profile: catalog.profile(kkVersion), manifest, choices: picked.choices, files: parsed }));
  }
  const sorted = sortIssues(issues);
  const errors = sorted.filter((i) => i.severity === 'error').length;
  const warnings = sorted.filter((i) => i.severity === 'warning').length;
  if (o.json) {
    printJson(ctx, { valid: errors === 0, kkVersion: kkVersion ?? null, choices: source ?? null, errors, warnings, issues: sorted });
  } else {
    for (const i of sorted) {
      const out = i.severity === 'info' ? ctx.io.stdout : ctx.io.stderr;
      out(`${formatIssue(i)}\n`);
      if (i.hint) out(`  hint: ${i.hint}\n`);
    }
    const summary = `${o.file.join(', ')}: ${errors} error(s), ${warnings} warning(s)${kkVersion ? ` against kk ${kkVersion}` : ''}\n`;
    (errors > 0 ? ctx.io.stderr : ctx.io.stdout)(summary);
  }
  if (errors > 0) ctx.setExit(EXIT_INVALID);
}

const EXAMPLES = `
Examples:
  $ kko manifest validate -f manifest.yaml
  $ kko manifest validate -f base-k8s.yaml -f addon-network.yaml --kk-version v3.1.12
  $ kko manifest validate -f manifest-sample.yaml --cluster config-sample.yaml --json

Exit codes: 0 valid (warnings allowed), 2 errors found.
`;

export function registerValidate(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('validate')
    .description('check a manifest: schema, kk rules, versions, completeness against what kk will pull')
    .requiredOption('-f, --file <file>', 'manifest file (repeatable; layers are checked together)', (v: string, p: string[] = []) => [...p, v])
    .option('--cluster <file>', 'kk cluster config (kk create config) to check completeness against')
    .option('--kk-version <version>', 'the kk release that will install (default: recorded, kk on PATH, else newest)')
    .option('--catalog-dir <dir>', 'extra add-on descriptors (repeatable; also KKO_CATALOG_DIR)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print the issues as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (o: ValidateOptions) => runValidate(o, ctx));
}
