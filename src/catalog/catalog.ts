import { KkoError } from '../errors.js';
import { formatReference, parseReference, type Reference } from '../reference/index.js';
import { imageRefForZone } from '../mirror/zone-ref.js';
import { cutText, quoteValue } from '../util/safe-text.js';
import { compareVersions, minorInRange, nearestVersions } from '../util/version.js';
import type { Arch, Checksums, ComponentDescriptor, ComponentVersion, ImageRules, KubeKeyProfile } from './schema.js';

// The class of an image the catalog does not know.
export const USER_CLASS = 'user';

export type CatalogData = {
  checksums: Checksums;
  rules: ImageRules;
  profiles: KubeKeyProfile[];
  components: Map<string, ComponentDescriptor>;
};

// The loaded catalog: kk release profiles, image rules, checksums and add-on components. Pure lookups only.
export class Catalog {
  readonly checksums: Checksums;
  readonly rules: ImageRules;
  readonly components: ReadonlyMap<string, ComponentDescriptor>;
  readonly #profiles: KubeKeyProfile[];
  #classIndex: Map<string, string> | undefined;
  #kkRepos: Map<string, string> | undefined;

  constructor(data: CatalogData) {
    this.checksums = data.checksums;
    this.rules = data.rules;
    this.components = data.components;
    this.#profiles = [...data.profiles].sort((a, b) => compareVersions(a.version, b.version));
  }

  get kkVersions(): string[] {
    return this.#profiles.map((p) => p.version);
  }

  newestProfile(): KubeKeyProfile {
    return this.#profiles[this.#profiles.length - 1] as KubeKeyProfile;
  }

  // The profile of a kk release; an unknown release is an error that lists the known ones.
  profile(kkVersion: string): KubeKeyProfile {
    const want = kkVersion.startsWith('v') ? kkVersion : `v${kkVersion}`;
    const p = this.#profiles.find((x) => x.version === want);
    if (!p) {
      throw new KkoError('UNKNOWN_VERSION', `unknown KubeKey release ${quoteValue(kkVersion)}`, {
        hint: `known releases: ${this.kkVersions.join(', ')}`,
      });
    }
    return p;
  }

  // Kubernetes versions the kk release can install on `arch` (keys of its components.json kubeadm table).
  kubernetesVersions(profile: KubeKeyProfile, arch: Arch = 'amd64'): string[] {
    return arch === 'arm64' && profile.kubernetes.arm64Versions ? profile.kubernetes.arm64Versions : profile.kubernetes.versions;
  }

  // Throws UNKNOWN_VERSION naming the nearest supported versions when kk cannot install `version`.
  assertKubernetesVersion(profile: KubeKeyProfile, version: string, arches: readonly Arch[]): void {
    for (const arch of arches) {
      const known = this.kubernetesVersions(profile, arch);
      if (!known.includes(version)) {
        throw new KkoError('UNKNOWN_VERSION', `Kubernetes ${cutText(version)} is not supported by kk ${profile.version} (${arch})`, {
          hint: `nearest supported: ${nearestVersions(version, known).join(', ')}; kk ${profile.version} supports ${known[0]} … ${known[known.length - 1]}`,
        });
      }
    }
  }

  // sha256 of a kk binary as stored in the artifact, or undefined when the catalog has none.
  checksum(component: string, arch: string, version: string): string | undefined {
    return this.checksums[component]?.[arch]?.[version];
  }

  checksumVersions(component: string, arch: string): string[] {
    return Object.keys(this.checksums[component]?.[arch] ?? {}).sort(compareVersions);
  }

  component(name: string): ComponentDescriptor {
    const c = this.components.get(name);
    if (!c) {
      throw new KkoError('UNKNOWN_VERSION', `unknown add-on component ${quoteValue(name)}`, {
        hint: `known components: ${[...this.components.keys()].sort().join(', ') || '(none)'}; add your own with --catalog-dir`,
      });
    }
    return c;
  }

  componentVersion(name: string, version: string): ComponentVersion {
    const c = this.component(name);
    const v = c.spec.versions.find((x) => x.version === version);
    if (!v) {
      throw new KkoError('UNKNOWN_VERSION', `unknown ${name} version ${quoteValue(version)}`, {
        hint: `known versions: ${c.spec.versions.map((x) => x.version).join(', ')}`,
      });
    }
    return v;
  }

  // True when the add-on version accepts this Kubernetes version (no range means any).
  componentSupports(version: ComponentVersion, kubernetes: string): boolean {
    return version.kubernetes === undefined || minorInRange(kubernetes, version.kubernetes);
  }

  // The layer (split file) an image class belongs to: kk classes from images.yaml, add-on classes by component.
  layerOf(cls: string): string {
    const kk = this.rules.classes[cls];
    if (kk) return kk.layer;
    for (const c of this.components.values()) {
      if (c.spec.versions.some((v) => v.groups.some((g) => g.class === cls))) return c.spec.layer ?? `addon-${c.metadata.name}`;
    }
    return 'addon-other';
  }

  // The class of an image ref, by the catalog's exact repository: kk's images by repository (their tags follow
  // the cluster), add-on images by repository and tag (a user's docker.io/library/nginx is not KubeSphere's
  // example nginx). The docker.io form and kk's cn form (registry.cn-beijing.aliyuncs.com/kubesphereio/<name>)
  // match; any other image is "user".
  classify(raw: string): string {
    let ref;
    try {
      ref = parseReference(raw);
    } catch {
      return USER_CLASS;
    }
    const index = this.#index();
    const repo = `${ref.registry}/${ref.repository}`;
    return index.get(repo) ?? (ref.tag !== undefined ? index.get(`${repo}:${ref.tag}`) : undefined) ?? USER_CLASS;
  }

  // The repository kk's GetImage names an image by (docker.io/<default namespace>/<name>), for a kk image given in
  // its docker.io or kk's cn form; undefined for any other image. Nodes pull kk images under that namespace.
  kkRepository(ref: Reference): string | undefined {
    if (!this.#kkRepos) {
      this.#kkRepos = new Map();
      for (const img of this.rules.images) {
        const hub = `docker.io/${img.repository}`;
        for (const key of [hub, imageRefForZone(hub, 'cn')]) if (!this.#kkRepos.has(key)) this.#kkRepos.set(key, hub);
      }
    }
    return this.#kkRepos.get(`${ref.registry}/${ref.repository}`);
  }

  #index(): Map<string, string> {
    if (this.#classIndex) return this.#classIndex;
    const index = new Map<string, string>();
    const add = (ref: string, cls: string): void => {
      for (const key of [ref, imageRefForZone(ref, 'cn')]) if (!index.has(key)) index.set(key, cls);
    };
    for (const img of this.rules.images) add(`docker.io/${img.repository}`, img.class);
    for (const c of [...this.components.values()]) {
      for (const v of c.spec.versions) {
        for (const g of v.groups) {
          for (const img of g.images) {
            const refs = typeof img === 'string' ? [img] : img.tagByKubernetes.map((r) => `${img.ref}:${r.tag}`);
            for (const r of refs) add(formatReference(parseReference(r)), g.class);
          }
        }
      }
    }
    this.#classIndex = index;
    return index;
  }
}
