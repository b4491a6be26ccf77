import type { Catalog } from '../catalog/catalog.js';
import type { ClusterChoices } from '../catalog/choices.js';
import { isKkoError, type Issue } from '../errors.js';
import { sortIssues } from '../util/yaml-doc.js';
import { loadClusterConfig, type RegistryFacts } from './cluster-config.js';
import { inferChoices } from './infer.js';
import { mergeManifests } from './layers.js';
import { loadManifestFile, type ParsedManifest, type SalvagedManifest } from './parse.js';
import { restoreIssuePaths } from './salvage.js';
import { kkRules, runRules } from './validate.js';

// Where the cluster choices for the completeness check came from.
export type ChoicesSource = 'recorded' | 'inferred' | 'cluster' | 'images-only';

export type ValidateManifestsOptions = {
  catalog: Catalog;
  files: readonly string[]; // absolute paths, checked together as layers of one cluster
  // Picks the kk release from the recorded one (the CLI: --kk-version, recorded, kk on PATH, newest).
  kkVersion: (recorded: string | undefined) => Promise<string>;
  clusterFile?: string; // a kk Cluster config to check completeness against
};

export type ValidateManifestsResult = {
  issues: Issue[]; // sorted; every step's issues, also for files with schema errors
  parsed: ParsedManifest[]; // the files that passed the schema (for further checks such as --online)
  wellFormed: boolean; // every file passed the schema
  kkVersion?: string;
  choices?: ChoicesSource;
};

// `manifest validate` in one pass: schema, kk's per-file rules, versions and completeness, all reported together.
// A file with schema errors is repaired as far as possible (salvageManifest) so the later steps still run on it.
export async function validateManifests(o: ValidateManifestsOptions): Promise<ValidateManifestsResult> {
  const issues: Issue[] = [];
  const usable: Array<ParsedManifest | SalvagedManifest> = [];
  const parsed: ParsedManifest[] = [];
  for (const file of o.files) {
    const r = await loadFile(file, issues);
    const m = r?.parsed ?? r?.salvaged;
    if (r?.parsed) parsed.push(r.parsed);
    if (m) {
      usable.push(m);
      issues.push(...fileIssues(kkRules(m), m));
    }
  }
  const result: ValidateManifestsResult = { issues, parsed, wellFormed: parsed.length === o.files.length };
  if (usable.length === o.files.length) await crossFileRules(o, usable, result);
  result.issues = sortIssues(issues);
  return result;
}

async function loadFile(
  file: string,
  issues: Issue[],
): Promise<Awaited<ReturnType<typeof loadManifestFile>> | undefined> {
  try {
    const r = await loadManifestFile(file);
    issues.push(...r.issues);
    return r;
  } catch (err) {
    if (!isKkoError(err)) throw err;
    issues.push({
      severity: 'error',
      code: err.code,
      message: err.message,
      file,
      ...(err.hint ? { hint: err.hint } : {}),
    });
    return undefined;
  }
}

// Issues found on a salvaged manifest point at its shortened arrays: map them back to the file.
function fileIssues(found: Issue[], m: ParsedManifest | SalvagedManifest): Issue[] {
  return 'dropped' in m ? restoreIssuePaths(found, m.dropped, m.doc, m.source) : found;
}

async function crossFileRules(
  o: ValidateManifestsOptions,
  files: Array<ParsedManifest | SalvagedManifest>,
  result: ValidateManifestsResult,
): Promise<void> {
  const issues = result.issues;
  let merged;
  try {
    merged = mergeManifests(files.map((p) => p.manifest));
  } catch (err) {
    if (!isKkoError(err)) throw err;
    issues.push({
      severity: 'error',
      code: err.code,
      message: err.message,
      file: files[0]?.file,
      ...(err.hint ? { hint: err.hint } : {}),
    });
    return;
  }
  const kkVersion = await o.kkVersion(files.map((p) => p.manifest.spec.kko?.kkVersion).find(Boolean));
  result.kkVersion = kkVersion;
  const picked = await choicesFor(o, merged, kkVersion, files, issues);
  result.choices = picked.source;
  const found = runRules({
    catalog: o.catalog,
    profile: o.catalog.profile(kkVersion),
    manifest: merged,
    choices: picked.choices,
    files,
    imagesOnly: picked.source === 'images-only',
    inferred: picked.source === 'inferred',
    ...(picked.registry ? { registry: picked.registry } : {}),
  });
  for (const f of files)
    issues.push(
      ...fileIssues(
        found.filter((i) => i.file === f.file),
        f,
      ),
    );
  issues.push(...found.filter((i) => !files.some((f) => f.file === i.file)));
}

type Picked = { choices: ClusterChoices; source: ChoicesSource; registry?: RegistryFacts };

// Choices for completeness: a --cluster config over the manifest's own record; a kk manifest gets them inferred.
// Without a Kubernetes distribution (and no --cluster) the manifest is images-only, as export treats it.
async function choicesFor(
  o: ValidateManifestsOptions,
  merged: ReturnType<typeof mergeManifests>,
  kkVersion: string,
  files: ParsedManifest[],
  issues: Issue[],
): Promise<Picked> {
  const kko = merged.spec.kko;
  const kubernetes = (merged.spec.kubernetesDistributions ?? []).map((d) => d.version);
  let picked: Picked;
  if (kko) {
    picked = {
      choices: {
        ...kko.cluster,
        kkVersion,
        zone: kko.zone,
        kubernetes,
        arches: (merged.spec.arches ?? []) as ClusterChoices['arches'],
        addons: kko.addons,
      },
      source: 'recorded',
    };
  } else {
    picked = { choices: inferChoices(o.catalog, merged, kkVersion), source: 'inferred' };
  }
  if (o.clusterFile) {
    const facts = await loadClusterConfig(o.clusterFile);
    issues.push(...facts.issues);
    return {
      choices: { ...picked.choices, ...facts.choices, zone: picked.choices.zone, kkVersion },
      source: 'cluster',
      ...(facts.registry ? { registry: facts.registry } : {}),
    };
  }
  if (kubernetes.length === 0) {
    issues.push({
      severity: 'info',
      code: 'IMAGES_ONLY',
      message:
        'no spec.kubernetesDistributions: an images-only manifest; export packages its images and the binaries it lists, so cluster completeness is not checked',
      file: files[0]?.file,
      hint: 'validate it together with its base layer (-f base-k8s.yaml -f this.yaml), or pass --cluster, for a completeness check',
    });
    return { ...picked, source: 'images-only' };
  }
  if (picked.source === 'inferred') {
    const c = picked.choices;
    issues.push({
      severity: 'info',
      code: 'INFERRED_CHOICES',
      message: `no kko record: cluster choices inferred from the images (cni ${c.cni.join(',')}, lb ${c.lb}, etcd ${c.etcdType}, runtime ${c.containerManager}${c.addons.map((a) => `, ${a.name} ${a.version}`).join('')})`,
      file: files[0]?.file,
      hint: 'pass --cluster kk-config.yaml for an exact completeness check',
    });
  }
  return picked;
}
