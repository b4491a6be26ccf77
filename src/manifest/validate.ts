import type { Catalog } from '../catalog/catalog.js';
import { choiceProblems, type ClusterChoices } from '../catalog/choices.js';
import { ARCHES, type KubeKeyProfile } from '../catalog/schema.js';
import { assertAddonCompatible } from '../catalog/select.js';
import { isKkoError, type Issue, type Severity } from '../errors.js';
import { kkImageNameProblem, parseReference, repositoryName, sha256ChecksumOf } from '../reference/index.js';
import { cutText, quoteValue } from '../util/safe-text.js';
import { positionOf } from '../util/yaml-doc.js';
import { nearestVersions } from '../util/version.js';
import { composeManifest } from './generate.js';
import type { ParsedManifest } from './parse.js';
import type { RegistryFacts } from './cluster-config.js';
import { kkNamespace, kkPushRepository } from './push-name.js';
import type { KkManifest } from './schema.js';

// Everything a rule may read; rules push issues and never throw.
export type RuleContext = {
  catalog: Catalog;
  profile: KubeKeyProfile;
  manifest: KkManifest;
  choices: ClusterChoices;
  files: ParsedManifest[];
  issues: Issue[];
  registry?: RegistryFacts; // from --cluster: where kk pushes and nodes pull
  imagesOnly?: boolean; // no Kubernetes distribution: no completeness or cluster checks (export packages what is listed)
  inferred?: boolean; // choices inferred from the images (a kk manifest lists every CNI's): the choice rules do not apply
};

type Rule = (ctx: RuleContext) => void;

// Position of spec path `path` in whichever input file has it.
function at(ctx: RuleContext, path: PropertyKey[]): Pick<Issue, 'file' | 'line' | 'col' | 'path'> {
  const dotted = path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  for (const f of ctx.files) {
    const pos = positionOf(f.doc, f.source.lines, path);
    if (pos && (path.length === 0 || f.doc.hasIn(path))) return { file: f.file, path: dotted, ...pos };
  }
  return { file: ctx.files[0]?.file, path: dotted };
}

function push(
  ctx: RuleContext,
  severity: Severity,
  code: string,
  message: string,
  where: Partial<Issue>,
  hint?: string,
): void {
  ctx.issues.push({ severity, code, message, ...where, ...(hint ? { hint } : {}) });
}

// Per-file kk rules (cmd/kk/apis/kubekey/v1alpha2 manifest validation and the export pipeline's own checks).
export function kkRules(file: ParsedManifest): Issue[] {
  const issues: Issue[] = [];
  const ctx = { files: [file], issues } as unknown as RuleContext;
  const spec = file.manifest.spec;
  const seen = new Map<string, number>();
  (spec.images ?? []).forEach((img, i) => {
    const syntax = referenceProblem(img);
    if (syntax) push(ctx, 'error', 'INVALID_REFERENCE', syntax.message, at(ctx, ['spec', 'images', i]), syntax.hint);
    const problem = syntax ? undefined : kkImageNameProblem(img);
    if (problem)
      push(
        ctx,
        'error',
        'IMAGE_NAME',
        `${quoteValue(img, 512)}: ${problem}`,
        at(ctx, ['spec', 'images', i]),
        'write e.g. docker.io/library/redis:5 instead of redis:5',
      );
    const first = seen.get(img);
    if (first !== undefined)
      push(
        ctx,
        'warning',
        'DUPLICATE_IMAGE',
        `${quoteValue(img, 512)} is listed twice (first at spec.images[${first}])`,
        at(ctx, ['spec', 'images', i]),
      );
    else seen.set(img, i);
  });
  const types = new Set((spec.kubernetesDistributions ?? []).map((d) => d.type));
  if (types.size > 1)
    push(
      ctx,
      'error',
      'DISTRIBUTION_TYPES',
      `all kubernetesDistributions must have one type, found ${[...types].map((t) => cutText(t)).join(', ')}`,
      at(ctx, ['spec', 'kubernetesDistributions']),
    );
  (spec.kubernetesDistributions ?? []).forEach((d, i) => {
    if (!['kubernetes', 'k3s', 'k8e'].includes(d.type))
      push(
        ctx,
        'error',
        'DISTRIBUTION_TYPE',
        `unknown distribution type ${quoteValue(d.type)}`,
        at(ctx, ['spec', 'kubernetesDistributions', i, 'type']),
        'kubernetes, k3s or k8e',
      );
  });
  if ((spec.arches ?? []).length === 0)
    push(
      ctx,
      'error',
      'NO_ARCH',
      'spec.arches is empty: kk would package no binaries',
      at(ctx, ['spec', 'arches']),
      'add amd64 and/or arm64',
    );
  (spec.arches ?? []).forEach((a, i) => {
    if (!(ARCHES as readonly string[]).includes(a))
      push(
        ctx,
        'error',
        'ARCH',
        `arch ${quoteValue(a)} is not one kk packages binaries for`,
        at(ctx, ['spec', 'arches', i]),
        'kk v3 supports amd64 and arm64',
      );
  });
  (spec.operatingSystems ?? []).forEach((os, i) => {
    const iso = os.repository?.iso;
    if (iso?.checksum && !sha256ChecksumOf(iso.checksum)) {
      push(
        ctx,
        'error',
        'ISO_CHECKSUM',
        `repository.iso.checksum ${quoteValue(iso.checksum)} is not a sha256 checksum`,
        at(ctx, ['spec', 'operatingSystems', i, 'repository', 'iso', 'checksum']),
        'give 64 hex digits, optionally prefixed with "sha256:" (or the line of the ISO\'s .sha256sum.txt)',
      );
    }
    if ((iso?.url || iso?.localPath) && !iso.checksum) {
      push(
        ctx,
        'warning',
        'ISO_NO_CHECKSUM',
        `the ${cutText(os.id)} ${cutText(os.version)} ${cutText(os.arch)} ISO has no checksum: it cannot be verified`,
        at(ctx, ['spec', 'operatingSystems', i, 'repository', 'iso']),
        "add repository.iso.checksum (sha256, e.g. from the release's *.iso.sha256sum.txt); kko verifies it, kk does not",
      );
    }
  });
  (spec.components?.containerRuntimes ?? []).forEach((r, i) => {
    if (r.type !== 'docker' && r.type !== 'containerd') {
      push(
        ctx,
        'error',
        'RUNTIME',
        `container runtime ${quoteValue(r.type)} cannot be packaged by kk (only docker and containerd)`,
        at(ctx, ['spec', 'components', 'containerRuntimes', i, 'type']),
      );
    }
  });
  return issues;
}

const knownVersions: Rule = (ctx) => {
  (ctx.manifest.spec.kubernetesDistributions ?? []).forEach((d, i) => {
    if (d.type !== 'kubernetes') return;
    const known = ctx.catalog.kubernetesVersions(ctx.profile);
    if (!known.includes(d.version)) {
      push(
        ctx,
        'error',
        'UNKNOWN_VERSION',
        `Kubernetes ${cutText(d.version)} is not supported by kk ${ctx.profile.version}`,
        at(ctx, ['spec', 'kubernetesDistributions', i, 'version']),
        `nearest supported: ${nearestVersions(d.version, known).join(', ')}`,
      );
    }
  });
};

// kk installs its compiled-in defaults, not the manifest's versions; a mismatch fails offline at install.
const componentVersions: Rule = (ctx) => {
  const c = ctx.manifest.spec.components ?? {};
  const d = ctx.profile.defaults;
  const pairs: Array<[keyof typeof c, string, string]> = [
    ['etcd', 'etcd', d.etcd],
    ['helm', 'helm', d.helm],
    ['cni', 'CNI plugins', d.kubecni],
    ['crictl', 'crictl', d.crictl],
    ['calicoctl', 'calicoctl', d.calicoctl],
  ];
  for (const [key, label, want] of pairs) {
    const got = (c[key] as { version?: string } | null | undefined)?.version;
    if (got && got !== want) {
      push(
        ctx,
        'error',
        'COMPONENT_VERSION',
        `${label} ${cutText(got)} is not the version kk ${ctx.profile.version} installs (${want})`,
        at(ctx, ['spec', 'components', key, 'version']),
        `kk installs its compiled-in ${label} ${want} and would try to download it at install time, which fails offline: set ${want}`,
      );
    }
  }
  (c.containerRuntimes ?? []).forEach((r, i) => {
    const want = r.type === 'docker' ? d.docker : r.type === 'containerd' ? d.containerd : undefined;
    if (want && r.version !== want) {
      push(
        ctx,
        'error',
        'COMPONENT_VERSION',
        `${r.type} ${cutText(r.version)} is not the version kk ${ctx.profile.version} installs (${want})`,
        at(ctx, ['spec', 'components', 'containerRuntimes', i, 'version']),
        `set ${want}`,
      );
    }
  });
  const switches: Array<[keyof typeof c, string]> = [
    ['docker-registry', d.registry],
    ['harbor', d.harbor],
    ['docker-compose', d.compose],
  ];
  for (const [key, want] of switches) {
    const got = (c[key] as { version?: string } | null | undefined)?.version;
    if (got && got !== want)
      push(
        ctx,
        'warning',
        'COMPONENT_SWITCH',
        `${String(key)} ${cutText(got)} is only an on/off switch: kk ${ctx.profile.version} packages ${want}`,
        at(ctx, ['spec', 'components', key, 'version']),
      );
  }
};

// An unknown add-on (or version) is reported at its spec.kko.addons[i] entry, in whichever file records it; an
// incompatible one at the Kubernetes versions it does not support.
const addonCompatibility: Rule = (ctx) => {
  for (const addon of ctx.choices.addons) {
    try {
      assertAddonCompatible(ctx.catalog, addon, ctx.choices.kubernetes);
    } catch (err) {
      if (!isKkoError(err)) throw err;
      const where = err.code === 'INCOMPATIBLE' ? undefined : addonEntry(ctx, addon);
      push(ctx, 'error', err.code, err.message, where ?? at(ctx, ['spec', 'kubernetesDistributions']), err.hint);
    }
  }
};

function addonEntry(ctx: RuleContext, addon: { name: string; version: string }): Partial<Issue> | undefined {
  for (const f of ctx.files) {
    const i = (f.manifest.spec.kko?.addons ?? []).findIndex(
      (a) => a.name === addon.name && a.version === addon.version,
    );
    if (i >= 0) return at({ ...ctx, files: [f] }, ['spec', 'kko', 'addons', i]);
  }
  return undefined;
}

// The distribution-grammar problem of an image reference, if any (what the export would refuse later).
function referenceProblem(raw: string): { message: string; hint?: string } | undefined {
  try {
    parseReference(raw);
    return undefined;
  } catch (err) {
    if (!isKkoError(err)) throw err;
    return { message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
}

// name:tag, the part that survives kk's registry / namespace rewriting on push.
function nameTag(raw: string): string | undefined {
  try {
    const ref = parseReference(raw);
    return `${repositoryName(ref)}:${ref.tag ?? ''}`;
  } catch {
    return undefined;
  }
}

// Choices kk cannot install (recorded in spec.kko.cluster, or from --cluster): at the field when a file records it.
const choiceRules: Rule = (ctx) => {
  if (ctx.inferred) return;
  for (const p of choiceProblems(ctx.choices)) {
    const recorded = ctx.files.some((f) => f.doc.hasIn(['spec', 'kko', 'cluster', p.field]));
    push(ctx, 'error', p.code, p.message, at(ctx, recorded ? ['spec', 'kko', 'cluster', p.field] : ['spec']), p.hint);
  }
};

const completeness: Rule = (ctx) => {
  if (!ctx.inferred && choiceProblems(ctx.choices).length > 0) return; // choiceRules said why: no expected image list for such a cluster
  let expected;
  try {
    expected = composeManifest(ctx.catalog, ctx.choices, ctx.manifest.metadata.name);
  } catch (err) {
    if (!isKkoError(err)) throw err;
    // an unknown add-on was reported at its entry already
    if (!ctx.issues.some((i) => i.message === err.message))
      push(ctx, 'error', err.code, err.message, at(ctx, ['spec']), err.hint);
    return;
  }
  const have = ctx.manifest.spec.images ?? [];
  const haveKeys = new Set(have.map(nameTag));
  for (const img of expected.images) {
    if (!have.includes(img.ref) && !haveKeys.has(nameTag(img.ref))) {
      push(
        ctx,
        'error',
        'MISSING_IMAGE',
        `missing image ${cutText(img.ref, 512)} (${img.class}): kk ${ctx.profile.version} pulls it for this cluster`,
        at(ctx, ['spec', 'images']),
      );
    }
  }
  const wantKeys = new Set(expected.images.map((i) => nameTag(i.ref)));
  have.forEach((ref, i) => {
    if (!wantKeys.has(nameTag(ref)))
      push(
        ctx,
        'info',
        'EXTRA_IMAGE',
        `${cutText(ref, 512)} is not needed by this cluster (${ctx.catalog.classify(ref) ?? 'unknown class'})`,
        at(ctx, ['spec', 'images', i]),
      );
  });
  const comps = ctx.manifest.spec.components ?? {};
  for (const [key, value] of Object.entries(expected.manifest.spec.components ?? {})) {
    if (key === 'containerRuntimes') {
      for (const r of (value as Array<{ type: string }>) ?? []) {
        if (!(comps.containerRuntimes ?? []).some((x) => x.type === r.type))
          push(
            ctx,
            'error',
            'MISSING_BINARY',
            `components.containerRuntimes has no ${r.type}: kk installs it for this cluster`,
            at(ctx, ['spec', 'components']),
          );
      }
    } else if (!(comps as Record<string, unknown>)[key]) {
      push(
        ctx,
        'error',
        'MISSING_BINARY',
        `components.${key} is missing: kk ${ctx.profile.version} downloads it at install`,
        at(ctx, ['spec', 'components']),
        `add ${key}: {version: ${(value as { version: string }).version}}`,
      );
    }
  }
  for (const arch of ctx.choices.arches) {
    if (!(ctx.manifest.spec.arches ?? []).includes(arch))
      push(
        ctx,
        'error',
        'MISSING_ARCH',
        `arch ${arch} is used by the cluster but missing from spec.arches`,
        at(ctx, ['spec', 'arches']),
      );
  }
};

// kk pushes <priv>/<namespace>/<name>:<tag> where the namespace is the manifest ref's (or namespaceOverride,
// ≤ v3.1.6 only), but nodes pull <priv>/<namespaceOverride or kk's default namespace>/<name>:<tag> (kubekey.md §3.8).
// When the two differ the install fails offline with "image not found" (kubekey#1954, #1311).
const pushPullNames: Rule = (ctx) => {
  const reg = ctx.registry;
  if (!reg) return;
  let expected;
  try {
    // With a privateRegistry, KKZONE does not change what nodes pull: kk's default (docker.io) namespaces apply.
    expected = composeManifest(
      ctx.catalog,
      { ...ctx.choices, zone: 'default' },
      ctx.manifest.metadata.name,
    ).images.filter((i) => i.origin === 'kubekey');
  } catch {
    return; // completeness reports why
  }
  const override = reg.namespaceOverride;
  const overrideOnPush = ctx.profile.features.namespaceOverrideOnPush;
  const have = ctx.manifest.spec.images ?? [];
  for (const img of expected) {
    const want = parseReference(img.ref);
    const i = have.findIndex((h) => nameTag(h) === nameTag(img.ref));
    if (i < 0) continue;
    const src = parseReference(have[i] as string);
    const srcNs = kkNamespace(src);
    const pushed = `${kkPushRepository(src, reg, { overrideOnPush, rewrite: false })}:${src.tag ?? ''}`;
    const pulled = `${reg.privateRegistry}/${override || kkNamespace(want)}/${repositoryName(want)}:${want.tag ?? ''}`;
    if (pushed !== pulled) {
      const fix =
        override && !overrideOnPush
          ? `kk ${ctx.profile.version} ignores namespaceOverride on push: use refs in namespace ${override} in the manifest, or drop namespaceOverride`
          : `set registry.namespaceOverride: ${srcNs} in the cluster config, or use ${img.ref} in the manifest`;
      push(
        ctx,
        'error',
        'PUSH_PULL_MISMATCH',
        `kk ${ctx.profile.version} pushes ${have[i]} as ${pushed} but nodes will pull ${pulled}`,
        at(ctx, ['spec', 'images', i]),
        fix,
      );
    }
  }
};

const RULES: Rule[] = [knownVersions, componentVersions, choiceRules, addonCompatibility, completeness, pushPullNames];
const IMAGES_ONLY_RULES: Rule[] = [componentVersions];

// Run the cross-field rules over a (merged) manifest; returns the issues, never throws for bad content.
export function runRules(ctx: Omit<RuleContext, 'issues'>): Issue[] {
  const full: RuleContext = { ...ctx, issues: [] };
  for (const rule of ctx.imagesOnly ? IMAGES_ONLY_RULES : RULES) rule(full);
  return full.issues;
}
