import { join } from 'node:path';
import {
  CNIS,
  CONTAINER_MANAGERS,
  ETCD_TYPES,
  LBS,
  ARCHES,
  choiceProblems,
  defaultChoices,
  type AddonChoice,
  type ChoiceProblem,
  type Catalog,
  type ClusterChoices,
  type Cni,
} from '../../catalog/index.js';
import { KkoError, formatIssue } from '../../errors.js';
import { buildManifest, loadClusterConfig, renderManifest, splitManifest } from '../../manifest/index.js';
import { withVPrefix } from '../../util/version.js';
import { pickZone, ZONE_ENV } from '../../mirror/index.js';
import { absPath, assertWritable, catalogFor, oneOf, resolveKkVersion, writeFileAtomic } from '../common.js';
import { jsonNeedsOutput, printJson, type CommandContext } from '../context.js';
import type { CreateOptions } from '../commands/manifest-create.js';

// "name@version[:group,group]" → AddonChoice.
function parseAddon(spec: string): AddonChoice {
  const m = /^([a-z0-9][a-z0-9-]*)@([^:]+)(?::(.+))?$/.exec(spec.trim());
  if (!m)
    throw new KkoError('INVALID_INPUT', `--addon: "${spec}" is not NAME@VERSION[:GROUP,GROUP]`, {
      hint: 'e.g. --addon my-addon@v1.0.0 or --addon kubesphere@v3.4.1:core,devops',
    });
  return { name: m[1] as string, version: m[2] as string, groups: m[3] ? m[3].split(',').filter(Boolean) : [] };
}

function kubesphereChoice(o: CreateOptions, catalog: Catalog): AddonChoice | undefined {
  const without = o.withoutKubesphere || o.withoutKubesphare;
  if (o.withKubesphere !== undefined && without)
    throw new KkoError('INVALID_INPUT', '--with-kubesphere and --without-kubesphere contradict each other');
  if (o.withKubesphere === undefined) {
    if (o.ksComponents)
      throw new KkoError('INVALID_INPUT', '--ks-components needs --with-kubesphere', {
        hint: 'e.g. --with-kubesphere v3.4.1 --ks-components core,devops',
      });
    return undefined;
  }
  const version =
    typeof o.withKubesphere === 'string'
      ? withVPrefix(o.withKubesphere)
      : (catalog.component('kubesphere').spec.versions[0]?.version ?? '');
  return { name: 'kubesphere', version, groups: o.ksComponents ?? [] };
}

// --cluster's add-ons, with --with-kubesphere / --ks-components / --without-kubesphere taking KubeSphere's place.
function addonChoices(o: CreateOptions, catalog: Catalog, base: Partial<ClusterChoices>): AddonChoice[] {
  const ks = kubesphereChoice(o, catalog);
  const dropKs = Boolean(ks || o.withoutKubesphere || o.withoutKubesphare);
  const fromCluster = (base.addons ?? []).filter((a) => !(dropKs && a.name === 'kubesphere'));
  return [...(ks ? [ks] : []), ...fromCluster, ...(o.addon ?? []).map(parseAddon)];
}

function cniFlag(list: string[]): Cni[] {
  const cni = list.map((c) => oneOf('--cni', c, CNIS));
  if (cni.length === 0) throw new KkoError('INVALID_INPUT', '--cni: empty list');
  return cni;
}

// The library's choice rules (choiceProblems), worded with the flags that set each field.
const FLAG_WORDING: Record<ChoiceProblem['code'], (p: ChoiceProblem) => { message: string; hint?: string }> = {
  MULTUS_ALONE: () => ({
    message: '--cni: multus runs on top of exactly one other CNI',
    hint: 'e.g. --cni calico,multus',
  }),
  TWO_CNIS: (p) => ({ message: `--cni: ${p.message}` }),
  TYPHA_WITHOUT_CALICO: () => ({ message: '--calico-typha needs --cni calico' }),
  KATA_WITHOUT_CONTAINERD: () => ({
    message: '--with-kata needs --container-manager containerd (kk deploys kata only with containerd or crio)',
  }),
};

function assertFlagChoices(c: ClusterChoices): void {
  const p = choiceProblems(c)[0];
  if (!p) return;
  const w = FLAG_WORDING[p.code](p);
  throw new KkoError('INVALID_INPUT', w.message, w.hint ? { hint: w.hint } : undefined);
}

// Flags → cluster choices over `base` (what --cluster says), rejecting contradictions before any output is produced.
// Without --with-kubernetes the version comes from --cluster, or is kk's DefaultKubeVersion when the config has none.
export function choicesFromFlags(
  o: CreateOptions,
  catalog: Catalog,
  kkVersion: string,
  zone: ClusterChoices['zone'],
  base?: Partial<ClusterChoices>,
): ClusterChoices {
  const profile = catalog.profile(kkVersion);
  const flagged = (o.withKubernetes ?? []).filter(Boolean).map(withVPrefix);
  const kubernetes = [
    ...new Set(flagged.length > 0 ? flagged : (base?.kubernetes ?? (base ? [profile.kubernetes.default] : []))),
  ];
  if (kubernetes.length === 0)
    throw new KkoError('INVALID_INPUT', '--with-kubernetes is required', {
      hint: 'e.g. --with-kubernetes v1.28.12 (comma list for several), or --cluster kk-config.yaml',
    });
  const arches = o.arch ? o.arch.map((a) => oneOf('--arch', a, ARCHES)) : (base?.arches ?? ['amd64']);
  if (arches.length === 0) throw new KkoError('INVALID_INPUT', '--arch: empty list');
  const d = defaultChoices(kkVersion, kubernetes);
  const c: ClusterChoices = {
    ...d,
    ...base,
    kkVersion,
    zone,
    kubernetes,
    arches: [...new Set(arches)],
    cni: o.cni ? cniFlag(o.cni) : (base?.cni ?? d.cni),
    lb: o.lb !== undefined ? oneOf('--lb', o.lb, LBS) : (base?.lb ?? d.lb),
    // --cluster implies local storage only through its KubeSphere, which --without-kubesphere drops.
    localStorage:
      o.withLocalStorage ??
      (o.withoutKubesphere || o.withoutKubesphare ? undefined : base?.localStorage) ??
      d.localStorage,
    nodelocaldns: o.nodelocaldns ?? base?.nodelocaldns ?? d.nodelocaldns,
    kubeProxy: o.kubeProxy ?? base?.kubeProxy ?? d.kubeProxy,
    etcdType: o.etcdType !== undefined ? oneOf('--etcd-type', o.etcdType, ETCD_TYPES) : (base?.etcdType ?? d.etcdType),
    containerManager:
      o.containerManager !== undefined
        ? oneOf('--container-manager', o.containerManager, CONTAINER_MANAGERS)
        : (base?.containerManager ?? d.containerManager),
    calicoTypha: o.calicoTypha ?? base?.calicoTypha ?? d.calicoTypha,
    kata: o.withKata ?? base?.kata ?? d.kata,
    nfd: o.withNfd ?? base?.nfd ?? d.nfd,
    registry: o.withRegistry ?? base?.registry ?? d.registry,
    addons: addonChoices(o, catalog, base ?? {}),
  };
  assertFlagChoices(c);
  for (const k of c.kubernetes) catalog.assertKubernetesVersion(profile, k, c.arches);
  return c;
}

// --cluster: the kk Cluster config's choices; its errors stop here, named by file and field.
async function clusterBase(
  ctx: CommandContext,
  file: string | undefined,
): Promise<Partial<ClusterChoices> | undefined> {
  if (!file) return undefined;
  const facts = await loadClusterConfig(absPath(ctx, file));
  const errors = facts.issues.filter((i) => i.severity === 'error');
  if (errors.length > 0) {
    throw new KkoError('INVALID_INPUT', `reading cluster config: ${errors.map((i) => formatIssue(i)).join('; ')}`, {
      hint: 'fix the cluster config, or override the field with its flag',
    });
  }
  return facts.choices;
}

// --zone, else KKZONE, else default (the same precedence every command uses).
export function resolveZone(ctx: CommandContext, flag: string | undefined): ClusterChoices['zone'] {
  return pickZone(flag, ctx.io.env[ZONE_ENV], undefined).zone;
}

export async function runCreate(o: CreateOptions, ctx: CommandContext): Promise<void> {
  if (o.json && !o.split && (!o.output || o.output === '-')) throw jsonNeedsOutput('create');
  const catalog = await catalogFor(ctx, o.catalogDir);
  const zone = resolveZone(ctx, o.zone);
  const kkVersion = await resolveKkVersion(ctx, catalog, o.kkVersion);
  const name = o.name.split('.')[0] ?? o.name;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))
    throw new KkoError('INVALID_INPUT', `--name "${o.name}" is not a valid resource name`, {
      hint: 'lower-case letters, digits and "-"',
    });
  const choices = choicesFromFlags(o, catalog, kkVersion, zone, await clusterBase(ctx, o.cluster));
  const built = buildManifest(catalog, choices, name);
  const header = ` Generated by kko for kk ${kkVersion} (zone ${zone}). Image classes are in the trailing comments and spec.kko.`;
  if (o.split) {
    const dir = absPath(ctx, o.split);
    const files = [...splitManifest(catalog, built.manifest)].map(([layer, m]) => ({
      path: join(dir, `${layer}.yaml`),
      text: renderManifest(m, header),
    }));
    for (const f of files) await assertWritable(f.path, Boolean(o.force));
    for (const f of files) await writeFileAtomic(f.path, f.text);
    if (o.json) printJson(ctx, { files: files.map((f) => f.path), images: built.images });
    else for (const f of files) ctx.io.stderr(`wrote ${f.path}\n`);
    return;
  }
  const text = renderManifest(built.manifest, header);
  if (o.output && o.output !== '-') {
    const target = absPath(ctx, o.output);
    await assertWritable(target, Boolean(o.force));
    await writeFileAtomic(target, text);
    if (o.json) printJson(ctx, { file: target, images: built.images });
    else ctx.io.stderr(`wrote ${target}: ${built.images.length} images, kk ${kkVersion}, zone ${zone}\n`);
    return;
  }
  ctx.io.stdout(text);
}
