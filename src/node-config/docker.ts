import { DOCKER_HUB } from '../reference/index.js';
import type { Issue } from '../errors.js';
import { rewrittenImages, type MirrorPlan } from './plan.js';
import { schemeOf } from './text.js';
import type { RenderedConfig } from './types.js';

// dockerd's daemon.json: "registry-mirrors" is consulted only for Docker Hub pulls, and a mirror URL's path is
// put before /v2/, so it cannot add a repository prefix; "insecure-registries" allows HTTP or an untrusted
// certificate. The CA is not a daemon.json setting: dockerd reads /etc/docker/certs.d/<host:port>/*.crt.

function mirrorIssues(plan: MirrorPlan): { mirror: boolean; issues: Issue[] } {
  const issues: Issue[] = [];
  const hub = plan.upstreams.find((u) => u.registry === DOCKER_HUB);
  const others = plan.upstreams.filter((u) => u.registry !== DOCKER_HUB);
  if (others.length > 0) {
    const list = others
      .map((u) => `${u.registry} (${u.images.length} image${u.images.length === 1 ? '' : 's'})`)
      .join(', ');
    issues.push({
      severity: 'warning',
      code: 'DOCKER_HUB_ONLY',
      message: `docker's registry-mirrors serve only docker.io; not mirrored: ${list}`,
      hint: `pull those by their private names, e.g. ${others[0]?.images[0]?.pushed ?? ''}`,
    });
  }
  if (!hub) return { mirror: false, issues };
  if (plan.path) {
    issues.push({
      severity: 'warning',
      code: 'MIRROR_PATH',
      message: `docker cannot mirror docker.io into ${plan.registry.privateRegistry}: a registry-mirrors URL cannot carry a repository path`,
      hint: 'use a registry without a path, or pull by the private names',
    });
    return { mirror: false, issues };
  }
  const bad = rewrittenImages(hub);
  if (bad.length > 0)
    issues.push({
      severity: 'warning',
      code: 'NAMESPACE_REWRITE',
      message: `docker can only mirror names unchanged: ${bad.map((i) => `${i.ref} (pushed as ${i.pushed})`).join(', ')}`,
      hint: 'pull them by their private names, or push with kk ≥ v3.1.7',
    });
  return { mirror: bad.length < hub.images.length, issues };
}

// Render daemon.json (2-space JSON, fixed key order).
export function renderDocker(plan: MirrorPlan): RenderedConfig {
  const { mirror, issues } = mirrorIssues(plan);
  const reg = plan.registry;
  const doc: Record<string, string[]> = {};
  if (mirror) doc['registry-mirrors'] = [`${schemeOf(reg.plainHTTP)}://${plan.host}`];
  if (reg.plainHTTP || reg.skipTLSVerify) doc['insecure-registries'] = [plan.host];
  if (reg.caFile && !reg.plainHTTP)
    issues.push({
      severity: 'info',
      code: 'CA_FILE',
      message: `dockerd does not read a CA from daemon.json: install ${reg.caFile} as /etc/docker/certs.d/${plan.host}/ca.crt`,
    });
  return { files: [{ path: 'daemon.json', text: `${JSON.stringify(doc, null, 2)}\n` }], issues };
}
