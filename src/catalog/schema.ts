import { z } from 'zod';

// Schemas for the catalog data shipped in catalog/ and for user add-on descriptors (--catalog-dir).
// The data is checked at load; a bad file is an INVALID_CATALOG error naming file:line:col.

export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

const version = z.string().regex(/^v?\d+(\.\d+){0,3}([-+][\w.-]+)?$/, 'expected a version such as v1.28.12');
const minor = z.string().regex(/^v\d+\.\d+$/, 'expected a minor version such as v1.26');
const sha256 = z.string().regex(/^[a-f0-9]{64}$/, 'expected 64 lower-case hex characters');

export const checksumsSchema = z.record(z.string(), z.record(z.string(), z.record(z.string(), sha256)));
export type Checksums = z.infer<typeof checksumsSchema>;

const componentDefaults = z.strictObject({
  etcd: version,
  helm: version,
  kubecni: version,
  crictl: version,
  containerd: version,
  runc: version,
  docker: version,
  'cri-dockerd': version,
  calicoctl: version,
  registry: z.string().min(1),
  harbor: version,
  compose: version,
  buildx: version.optional(),
});
export type ComponentDefaults = z.infer<typeof componentDefaults>;

export const profileSchema = z.strictObject({
  apiVersion: z.literal('kko.io/v1alpha1'),
  kind: z.literal('KubeKeyProfile'),
  version: z.string().regex(/^v3\.\d+\.\d+$/),
  released: z.string().optional(),
  kubernetes: z.strictObject({
    default: version,
    versions: z.array(version).min(1),
    arm64Versions: z.array(version).optional(),
  }),
  defaults: componentDefaults,
  imageTags: z.record(z.string(), z.string().min(1)),
  imageNamespaces: z.record(z.string(), z.string()).optional(),
  features: z.strictObject({
    kubeBinaryUrl: z.enum(['googleapis', 'dlk8s']),
    manifestHonoursZone: z.boolean(),
    namespaceOverrideOnPush: z.boolean(),
    namespaceRewrite: z.boolean(),
    composeFileName: z.enum(['x86_64', 'alias']),
    harborArm64: z.boolean(),
    writesOperatingSystem: z.boolean(),
  }),
  notes: z.array(z.string()).optional(),
});
export type KubeKeyProfile = z.infer<typeof profileSchema>;

// When an image is needed, as a conjunction of cluster choices. An empty object means always.
export const conditionSchema = z.strictObject({
  cni: z.string().optional(),
  lb: z.string().optional(),
  etcdType: z.string().optional(),
  containerManager: z.string().optional(),
  localStorage: z.boolean().optional(),
  nodelocaldns: z.boolean().optional(),
  kubeProxy: z.boolean().optional(),
  calicoTypha: z.boolean().optional(),
  kata: z.boolean().optional(),
  nfd: z.boolean().optional(),
});
export type Condition = z.infer<typeof conditionSchema>;

// A tag chosen by the cluster's Kubernetes minor: the first rule whose `min` the version reaches wins.
const tagRule = z.strictObject({ min: minor.optional(), containerManager: z.string().optional(), tag: z.string().min(1) });
export type TagRule = z.infer<typeof tagRule>;

const tagSource = z.union([
  z.strictObject({ kubernetes: z.literal(true) }),
  z.strictObject({ profile: z.string() }),
  z.strictObject({ rule: z.string() }),
]);

export const imageRulesSchema = z.strictObject({
  apiVersion: z.literal('kko.io/v1alpha1'),
  kind: z.literal('ImageRules'),
  classes: z.record(z.string(), z.strictObject({ layer: z.string(), description: z.string() })),
  tagRules: z.record(z.string(), z.array(tagRule).min(1)),
  images: z
    .array(
      z.strictObject({
        key: z.string(),
        repository: z.string(),
        tag: tagSource,
        class: z.string(),
        when: conditionSchema.default({}),
      }),
    )
    .min(1),
});
export type ImageRules = z.infer<typeof imageRulesSchema>;
export type ImageRule = ImageRules['images'][number];

// An add-on image: a plain "registry/ns/name:tag" or a repository whose tag follows the Kubernetes minor.
const addonImage = z.union([
  z.string().min(1),
  z.strictObject({
    ref: z.string().min(1),
    tagByKubernetes: z.array(z.strictObject({ min: minor, tag: z.string().min(1) })).min(1),
  }),
]);
export type AddonImage = z.infer<typeof addonImage>;

const addonBinary = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  url: z.string().url(),
  path: z.string().min(1),
  sha256: z.record(z.string(), sha256),
});

export const componentSchema = z.strictObject({
  apiVersion: z.literal('kko.io/v1alpha1'),
  kind: z.literal('Component'),
  metadata: z.strictObject({ name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and "-"') }),
  spec: z.strictObject({
    description: z.string().optional(),
    layer: z.string().regex(/^[a-z0-9][a-z0-9-]*$/).optional(),
    versions: z
      .array(
        z.strictObject({
          version,
          kubernetes: z.strictObject({ min: minor.optional(), max: minor.optional() }).optional(),
          requires: z.array(z.enum(['local-storage'])).optional(),
          groups: z
            .array(
              z.strictObject({
                name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
                class: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
                required: z.boolean().optional(),
                default: z.boolean().optional(),
                description: z.string().optional(),
                // Chosen with this group, at least one of these groups is needed (e.g. a log store); the first is the default.
                needsOneOf: z.array(z.string()).min(1).optional(),
                images: z.array(addonImage).default([]),
                binaries: z.array(addonBinary).optional(),
              }),
            )
            .min(1),
        }),
      )
      .min(1),
  }),
});
export type ComponentDescriptor = z.infer<typeof componentSchema>;
export type ComponentVersion = ComponentDescriptor['spec']['versions'][number];
export type ComponentGroup = ComponentVersion['groups'][number];
