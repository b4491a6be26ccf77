import { isAbsolute } from 'node:path';
import { KkoError } from '../errors.js';
import { parseReference } from '../reference/index.js';
import { renderContainerd } from './containerd.js';
import { renderDocker } from './docker.js';
import { renderKk } from './kk.js';
import { planMirrors, type NodeConfigInput } from './plan.js';
import { renderRegistriesConf } from './registries-conf.js';
import { hasControl, safeText } from '../util/safe-text.js';
import type { NodeConfigFormat, RenderedConfig } from './types.js';

const RENDERERS: Record<NodeConfigFormat, (plan: ReturnType<typeof planMirrors>) => RenderedConfig> = {
  containerd: renderContainerd,
  docker: renderDocker,
  'registries.conf': renderRegistriesConf,
  kk: renderKk,
};

function checkInput(input: NodeConfigInput): void {
  const ca = input.registry.caFile;
  if (ca !== undefined && (!isAbsolute(ca) || hasControl(ca))) {
    throw new KkoError('INVALID_INPUT', `CA file "${safeText(ca)}": must be an absolute path on the nodes`, {
      hint: 'e.g. --ca /etc/containerd/certs.d/ca.crt',
    });
  }
  const ns = input.registry.namespaceOverride;
  if (ns) {
    try {
      parseReference(`registry.invalid/${ns}/probe`);
    } catch (err) {
      throw new KkoError('INVALID_INPUT', `namespaceOverride "${safeText(ns)}": not a repository namespace`, {
        cause: err,
        hint: 'lower-case letters, digits and . _ - separators, e.g. kubesphereio',
      });
    }
  }
  if (input.images.length === 0)
    throw new KkoError('INVALID_INPUT', 'rendering a node mirror config: the manifest lists no images', {
      hint: 'pass the manifest the artifact was exported from',
    });
}

// Node-side registry config that sends every upstream the manifest's images use to the local registry (pure).
export function renderNodeConfig(input: NodeConfigInput, format: NodeConfigFormat): RenderedConfig {
  checkInput(input);
  const plan = planMirrors(input);
  const out = RENDERERS[format](plan);
  return { files: out.files, issues: [...plan.issues, ...out.issues] };
}
