import { Document, isScalar, isSeq, type YAMLMap } from 'yaml';
import type { Catalog } from '../catalog/catalog.js';
import { assertChoices, type ClusterChoices } from '../catalog/choices.js';
import type { KubeKeyProfile } from '../catalog/schema.js';
import { effectiveChoices, selectImages, type SelectedImage } from '../catalog/select.js';
import { manifestSchemaComment } from '../schema-url.js';
import { VERSION } from '../version.js';
import { MANIFEST_API_VERSION, MANIFEST_KIND, type KkComponents, type KkManifest, type KkoRecord } from './schema.js';

// The order layers are written in (and merged back in); add-on layers follow, by name.
export const LAYER_ORDER = ['base-k8s', 'addon-network', 'addon-storage', 'addon-lb', 'addon-kata', 'addon-nfd'];

export function layerRank(layer: string): number {
  const i = LAYER_ORDER.indexOf(layer);
  return i >= 0 ? i : LAYER_ORDER.length;
}

// Stable sort of images by layer (kk order inside a layer), so split → merge gives the same bytes.
export function sortByLayer(images: SelectedImage[]): SelectedImage[] {
  return images
    .map((img, i) => ({ img, i }))
    .sort(
      (a, b) =>
        layerRank(a.img.layer) - layerRank(b.img.layer) ||
        (a.img.layer < b.img.layer ? -1 : a.img.layer > b.img.layer ? 1 : 0) ||
        a.i - b.i,
    )
    .map((x) => x.img);
}

// The components section kk of this release will install for the cluster (its compiled-in defaults).
// kk downloads etcd, helm, CNI plugins and crictl whatever the etcd type (cmd/kk/pkg/binaries/kubernetes.go).
export function expectedComponents(profile: KubeKeyProfile, c: ClusterChoices): KkComponents {
  const d = profile.defaults;
  const components: KkComponents = {
    helm: { version: d.helm },
    cni: { version: d.kubecni },
    etcd: { version: d.etcd },
    containerRuntimes: [
      { type: c.containerManager, version: c.containerManager === 'docker' ? d.docker : d.containerd },
    ],
    crictl: { version: d.crictl },
  };
  if (c.cni.includes('calico')) components.calicoctl = { version: d.calicoctl };
  if (c.registry) {
    components['docker-registry'] = { version: d.registry };
    components.harbor = { version: d.harbor };
    components['docker-compose'] = { version: d.compose };
  }
  return components;
}

export function kkoRecord(c: ClusterChoices, images: SelectedImage[]): KkoRecord {
  return {
    generator: `kko ${VERSION}`,
    kkVersion: c.kkVersion,
    zone: c.zone,
    cluster: {
      cni: c.cni,
      lb: c.lb,
      etcdType: c.etcdType,
      containerManager: c.containerManager,
      localStorage: c.localStorage,
      nodelocaldns: c.nodelocaldns,
      kubeProxy: c.kubeProxy,
      calicoTypha: c.calicoTypha,
      kata: c.kata,
      nfd: c.nfd,
      registry: c.registry,
    },
    addons: c.addons.map((a) => ({ name: a.name, version: a.version, groups: a.groups })),
    imageClasses: Object.fromEntries(images.map((i) => [i.ref, i.class])),
  };
}

export type BuiltManifest = { manifest: KkManifest; images: SelectedImage[] };

// The lean manifest for a cluster: exactly the images and binaries kk of the target release needs. Choices kk
// cannot install (kata without containerd, typha without calico, multus alone) are refused (INVALID_INPUT).
export function buildManifest(catalog: Catalog, choices: ClusterChoices, name: string): BuiltManifest {
  assertChoices(choices);
  return composeManifest(catalog, choices, name);
}

// buildManifest without the choice rules: for choices inferred from a kk manifest, which lists every CNI's images.
export function composeManifest(catalog: Catalog, choices: ClusterChoices, name: string): BuiltManifest {
  const c = effectiveChoices(catalog, choices);
  const profile = catalog.profile(c.kkVersion);
  const images = sortByLayer(selectImages(catalog, c));
  const manifest: KkManifest = {
    apiVersion: MANIFEST_API_VERSION,
    kind: MANIFEST_KIND,
    metadata: { name },
    spec: {
      arches: [...c.arches],
      operatingSystems: [],
      kubernetesDistributions: c.kubernetes.map((version) => ({ type: 'kubernetes', version })),
      components: expectedComponents(profile, c),
      images: images.map((i) => i.ref),
      registry: { auths: {} },
      kko: kkoRecord(c, images),
    },
  };
  return { manifest, images };
}

// Deterministic YAML in kk's key order; each image carries its class as a trailing comment.
export function renderManifest(manifest: KkManifest, header?: string): string {
  const doc = new Document(manifest, { sortMapEntries: false });
  // The modeline first: yaml-language-server reads it from the top of the file.
  doc.commentBefore = header ? `${manifestSchemaComment()}\n${header}` : manifestSchemaComment();
  const spec = doc.get('spec') as YAMLMap | undefined;
  const images = spec?.get('images');
  const classes = manifest.spec.kko?.imageClasses ?? {};
  if (isSeq(images)) {
    for (const item of images.items) {
      if (isScalar(item) && typeof item.value === 'string' && classes[item.value])
        item.comment = ` ${classes[item.value]}`;
    }
  }
  return doc.toString({ lineWidth: 0, indentSeq: false, flowCollectionPadding: false });
}
