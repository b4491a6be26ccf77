import { formatReference, parseReference } from '../reference/index.js';
import { rewriteReference } from './resolve.js';
import type { Zone } from './schema.js';

// kk's cn image mirror: every image flattened to <registry>/kubesphereio/<last path segment>:<tag>
// (kk ImageRepo() with KKZONE=cn; ks-installer namespace_override=kubesphereio). catalog/zones/cn.yaml
// holds the same location as a flatten rule for docker.io, quay.io, ghcr.io and registry.k8s.io.
export const CN_IMAGE_REGISTRY = 'registry.cn-beijing.aliyuncs.com';
export const CN_IMAGE_NAMESPACE = 'kubesphereio';

// The ref kk expects in a manifest for `zone`: unchanged for default, flattened onto the cn mirror for cn.
// Unlike the pull rules, kk flattens every image here whatever its registry, so this stays synchronous and rule-free.
export function imageRefForZone(raw: string, zone: Zone): string {
  if (zone === 'default') return raw;
  const ref = parseReference(raw);
  return formatReference(rewriteReference(ref, ref.registry, `${CN_IMAGE_REGISTRY}/${CN_IMAGE_NAMESPACE}`, 'flatten'));
}
