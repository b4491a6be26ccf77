import type { Issue } from '../errors.js';
import { kkNamespace } from '../manifest/index.js';
import { rewrittenImages, type MirrorPlan, type Upstream } from './plan.js';
import { quote } from './text.js';
import type { RenderedConfig } from './types.js';

// containers-registries.conf(5) v2 (CRI-O, podman, skopeo): [[registry]] prefix/location with [[registry.mirror]].
// A mirror location replaces the matched prefix, so unlike containerd a namespace can be rewritten: one rule per
// <upstream>/<namespace> maps it to where kk pushed it. TLS: insecure = true for HTTP or an untrusted
// certificate; a CA goes to /etc/containers/certs.d/<host:port>/ca.crt (containers-certs.d(5)), not in this file.

type Rule = { prefix: string; mirror: string };

function rules(up: Upstream, plan: MirrorPlan): Rule[] {
  if (rewrittenImages(up).length === 0) return [{ prefix: up.registry, mirror: plan.registry.privateRegistry }];
  const byNs = new Map<string, string>();
  for (const img of up.images)
    byNs.set(`${up.registry}/${kkNamespace(img.source)}`, img.pushed.slice(0, img.pushed.lastIndexOf('/')));
  return [...byNs].map(([prefix, mirror]) => ({ prefix, mirror }));
}

function block(rule: Rule, insecure: boolean): string[] {
  const mirror = [
    '',
    '[[registry.mirror]]',
    `location = ${quote(rule.mirror)}`,
    ...(insecure ? ['insecure = true'] : []),
  ];
  return ['', '[[registry]]', `prefix = ${quote(rule.prefix)}`, `location = ${quote(rule.prefix)}`, ...mirror];
}

// Render registries.conf (drop-in for /etc/containers/registries.conf.d/).
export function renderRegistriesConf(plan: MirrorPlan): RenderedConfig {
  const reg = plan.registry;
  const all = plan.upstreams
    .flatMap((up) => rules(up, plan))
    .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const head = `# Written by kko mirror render: pull these registries' images from ${reg.privateRegistry} first.`;
  const text = [head, ...all.flatMap((r) => block(r, reg.plainHTTP || reg.skipTLSVerify)), ''].join('\n');
  const issues: Issue[] = [];
  if (reg.caFile && !reg.plainHTTP)
    issues.push({
      severity: 'info',
      code: 'CA_FILE',
      message: `registries.conf has no CA setting: install ${reg.caFile} as /etc/containers/certs.d/${plan.host}/ca.crt`,
    });
  return { files: [{ path: 'registries.conf', text }], issues };
}
