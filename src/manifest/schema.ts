import { z } from 'zod';
import { quoteValue } from '../util/safe-text.js';

// KubeKey's kubekey.kubesphere.io/v1alpha2 Manifest (cmd/kk/apis/kubekey/v1alpha2/manifest_types.go),
// plus kko's own record under spec.kko. kk decodes YAML→JSON into Go structs: unknown fields are
// ignored, and a number where Go wants a string is a decode error, so strings are strict here.

export const MANIFEST_API_VERSION = 'kubekey.kubesphere.io/v1alpha2';
export const MANIFEST_KIND = 'Manifest';

// The "quote it" hint shows a scalar (a number or a boolean: short); a list or a map is not expanded.
const str = z.string({
  error: (i) =>
    i.input === undefined
      ? undefined
      : typeof i.input === 'number' || typeof i.input === 'boolean'
        ? `expected a string, got ${typeof i.input} (quote it: "${String(i.input)}")`
        : `expected a string, got ${quoteValue(i.input)}`,
});
const optStr = str.nullish();
// A secret is never echoed back in an error message.
const secretStr = z
  .string({
    error: (i) => (i.input === undefined ? undefined : `expected a string, got ${typeof i.input} (quote the value)`),
  })
  .nullish();

const kkoCluster = z.strictObject({
  cni: z.array(z.enum(['calico', 'cilium', 'flannel', 'kube-ovn', 'hybridnet', 'multus', 'none'])),
  lb: z.enum(['haproxy', 'kube-vip', 'none']),
  etcdType: z.enum(['kubekey', 'kubeadm', 'external']),
  containerManager: z.enum(['containerd', 'docker']),
  localStorage: z.boolean(),
  nodelocaldns: z.boolean(),
  kubeProxy: z.boolean(),
  calicoTypha: z.boolean(),
  kata: z.boolean(),
  nfd: z.boolean(),
  registry: z.boolean(),
});

export const kkoRecordSchema = z.strictObject({
  generator: str.optional(),
  kkVersion: str,
  zone: z.enum(['default', 'cn']),
  cluster: kkoCluster,
  addons: z.array(z.strictObject({ name: str, version: str, groups: z.array(str) })).default([]),
  layer: str.optional(),
  imageClasses: z.record(z.string(), z.string()).default({}),
});
export type KkoRecord = z.infer<typeof kkoRecordSchema>;

// Built twice: strict (to report unknown fields, which kk silently ignores) and stripping (to read the value).
function buildManifestSchema(o: typeof z.strictObject) {
  const versioned = o({ version: str });
  const authEntry = o({
    username: optStr,
    password: secretStr,
    skipTLSVerify: z.boolean().nullish(),
    plainHTTP: z.boolean().nullish(),
    certsPath: optStr,
  });

  return o({
    apiVersion: z.literal(MANIFEST_API_VERSION, { error: `expected apiVersion "${MANIFEST_API_VERSION}"` }),
    kind: z.literal(MANIFEST_KIND, { error: `expected kind "${MANIFEST_KIND}"` }),
    metadata: o({
      name: str,
      annotations: z.record(z.string(), str).optional(),
      labels: z.record(z.string(), str).optional(),
    }),
    spec: o({
      arches: z.array(str).nullish(),
      operatingSystems: z
        .array(
          o({
            arch: str,
            type: optStr,
            id: str,
            version: str,
            osImage: optStr,
            repository: o({ iso: o({ localPath: optStr, url: optStr, checksum: optStr }).nullish() }).nullish(),
          }),
        )
        .nullish(),
      kubernetesDistributions: z.array(o({ type: str, version: str })).nullish(),
      components: o({
        helm: versioned.nullish(),
        cni: versioned.nullish(),
        etcd: versioned.nullish(),
        containerRuntimes: z.array(o({ type: str, version: str })).nullish(),
        crictl: versioned.nullish(),
        'docker-registry': versioned.nullish(),
        harbor: versioned.nullish(),
        'docker-compose': versioned.nullish(),
        calicoctl: versioned.nullish(),
      }).nullish(),
      images: z.array(str).nullish(),
      registry: o({ auths: z.record(z.string(), authEntry).nullish() }).nullish(),
      kko: kkoRecordSchema.optional(),
    }),
  });
}

export const strictManifestSchema = buildManifestSchema(z.strictObject);
export const manifestSchema = buildManifestSchema(((shape: z.ZodRawShape) =>
  z.object(shape)) as unknown as typeof z.strictObject);
export type KkManifest = z.infer<typeof manifestSchema>;
export type AuthEntry = NonNullable<NonNullable<KkManifest['spec']['registry']>['auths']>[string];
export type KkComponents = NonNullable<KkManifest['spec']['components']>;
