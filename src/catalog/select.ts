import { KkoError } from '../errors.js';
import { formatReference, parseReference } from '../reference/index.js';
import { imageRefForZone } from '../mirror/zone-ref.js';
import { quoteValue } from '../util/safe-text.js';
import { compareVersions, minorOf } from '../util/version.js';
import type { Catalog } from './catalog.js';
import type { AddonChoice, ClusterChoices } from './choices.js';
import type { AddonImage, ComponentVersion, Condition, KubeKeyProfile, TagRule } from './schema.js';

export type SelectedImage = { ref: string; class: string; layer: string; origin: string };

// Add-on requirements that change the kk side (KubeSphere needs OpenEBS local storage).
export function effectiveChoices(catalog: Catalog, choices: ClusterChoices): ClusterChoices {
  let localStorage = choices.localStorage;
  for (const addon of choices.addons) {
    if (catalog.componentVersion(addon.name, addon.version).requires?.includes('local-storage')) localStorage = true;
  }
  return { ...choices, localStorage };
}

function conditionHolds(when: Condition, c: ClusterChoices): boolean {
  if (when.cni !== undefined && !c.cni.includes(when.cni as never)) return false;
  if (when.lb !== undefined && when.lb !== c.lb) return false;
  if (when.etcdType !== undefined && when.etcdType !== c.etcdType) return false;
  if (when.containerManager !== undefined && when.containerManager !== c.containerManager) return false;
  const flags = ['localStorage', 'nodelocaldns', 'kubeProxy', 'calicoTypha', 'kata', 'nfd'] as const;
  return flags.every((f) => when[f] === undefined || when[f] === c[f]);
}

// The first tag rule the Kubernetes version and container manager satisfy.
export function tagFromRules(rules: readonly TagRule[], kubernetes: string, containerManager: string): string {
  const minor = minorOf(kubernetes);
  const hit = rules.find(
    (r) => (r.min === undefined || compareVersions(minor, r.min) >= 0) && (r.containerManager === undefined || r.containerManager === containerManager),
  );
  if (!hit) throw new KkoError('INVALID_CATALOG', `no tag rule matches Kubernetes ${kubernetes}`);
  return hit.tag;
}

// The kk images of one Kubernetes version, in kk's order.
function kubekeyImages(catalog: Catalog, profile: KubeKeyProfile, c: ClusterChoices, kubernetes: string): SelectedImage[] {
  const out: SelectedImage[] = [];
  for (const rule of catalog.rules.images) {
    if (!conditionHolds(rule.when, c)) continue;
    let tag: string | undefined;
    if ('kubernetes' in rule.tag) tag = kubernetes;
    else if ('profile' in rule.tag) tag = profile.imageTags[rule.tag.profile];
    else {
      const rules = catalog.rules.tagRules[rule.tag.rule];
      tag = rules ? tagFromRules(rules, kubernetes, c.containerManager) : undefined;
    }
    if (tag === undefined) throw new KkoError('INVALID_CATALOG', `kk ${profile.version} profile has no tag for image "${rule.key}"`);
    const repository = profile.imageNamespaces?.[rule.key] ?? rule.repository;
    const cls = rule.class;
    out.push({ ref: `docker.io/${repository}:${tag}`, class: cls, layer: catalog.layerOf(cls), origin: 'kubekey' });
  }
  return out;
}

// The groups an add-on choice selects: required ones always, then the named ones (or the defaults).
export function addonGroups(version: ComponentVersion, choice: AddonChoice): ComponentVersion['groups'] {
  const known = version.groups.map((g) => g.name);
  for (const name of choice.groups) {
    if (!known.includes(name)) {
      throw new KkoError('INVALID_INPUT', `unknown ${choice.name} ${choice.version} component group ${quoteValue(name)}`, { hint: `groups: ${known.join(', ')}` });
    }
  }
  const wanted = choice.groups.length > 0 ? new Set(choice.groups) : new Set(version.groups.filter((g) => g.default).map((g) => g.name));
  const chosen = version.groups.filter((g) => g.required || wanted.has(g.name));
  for (const g of chosen) {
    const first = g.needsOneOf?.[0];
    if (first === undefined || g.needsOneOf?.some((n) => wanted.has(n))) continue;
    if (!known.includes(first)) throw new KkoError('INVALID_CATALOG', `${choice.name} ${choice.version} group "${g.name}" needs unknown group "${first}"`);
    wanted.add(first);
  }
  return version.groups.filter((g) => g.required || wanted.has(g.name));
}

// The refs one add-on image entry stands for, given the cluster's Kubernetes versions.
export function addonImageRefsFor(img: AddonImage, kubernetes: readonly string[]): string[] {
  if (typeof img === 'string') return [formatReference(parseReference(img))];
  const base = formatReference(parseReference(img.ref));
  const tags = kubernetes.map((k) => img.tagByKubernetes.find((r) => compareVersions(minorOf(k), r.min) >= 0)?.tag);
  return [...new Set(tags.filter((t): t is string => t !== undefined))].map((t) => `${base}:${t}`);
}

// Throws INCOMPATIBLE when an add-on version does not accept one of the Kubernetes versions.
export function assertAddonCompatible(catalog: Catalog, choice: AddonChoice, kubernetes: readonly string[]): void {
  const v = catalog.componentVersion(choice.name, choice.version);
  for (const k of kubernetes) {
    if (!catalog.componentSupports(v, k)) {
      const range = `${v.kubernetes?.min ?? 'any'} … ${v.kubernetes?.max ?? 'any'}`;
      throw new KkoError('INCOMPATIBLE', `${choice.name} ${choice.version} does not support Kubernetes ${k} (supported minors: ${range})`, {
        hint: `pick a Kubernetes version in ${range}, or another ${choice.name} version`,
      });
    }
  }
}

function addonImages(catalog: Catalog, choice: AddonChoice, kubernetes: readonly string[]): SelectedImage[] {
  const descriptor = catalog.component(choice.name);
  const version = catalog.componentVersion(choice.name, choice.version);
  const layer = descriptor.spec.layer ?? `addon-${choice.name}`;
  return addonGroups(version, choice).flatMap((g) =>
    g.images.flatMap((img) => addonImageRefsFor(img, kubernetes).map((ref) => ({ ref, class: g.class, layer, origin: choice.name }))),
  );
}

// Every image the cluster needs, kk's first (per Kubernetes version, kk order), then add-ons; no duplicates.
export function selectImages(catalog: Catalog, choices: ClusterChoices): SelectedImage[] {
  const c = effectiveChoices(catalog, choices);
  const profile = catalog.profile(c.kkVersion);
  for (const addon of c.addons) assertAddonCompatible(catalog, addon, c.kubernetes);
  const all = [
    ...c.kubernetes.flatMap((k) => kubekeyImages(catalog, profile, c, k)),
    ...c.addons.flatMap((a) => addonImages(catalog, a, c.kubernetes)),
  ];
  const seen = new Set<string>();
  const out: SelectedImage[] = [];
  for (const img of all) {
    const ref = imageRefForZone(img.ref, c.zone);
    if (seen.has(ref)) continue;
    seen.add(ref);
    out.push({ ...img, ref });
  }
  return out;
}
