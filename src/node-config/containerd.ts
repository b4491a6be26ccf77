import type { Issue } from '../errors.js';
import { rewrittenImages, type MirrorPlan, type Upstream } from './plan.js';
import { quote, quoteList, schemeOf } from './text.js';
import type { RenderedConfig } from './types.js';

// containerd ≥ 1.5 hosts.toml (docs/hosts.md at v1.6.20): one DIR/<upstream>/hosts.toml per registry host namespace;
// [host."…"] entries are tried in order before `server`. A host URL path is appended to, not replaced: without
// override_path "https://reg/ks" becomes "https://reg/ks/v2/…", so a privateRegistry path is written as
// "https://reg/v2/ks" with override_path = true, which gives "/v2/ks/<namespace>/<name>".

function hostUrl(plan: MirrorPlan): string {
  const base = `${schemeOf(plan.registry.plainHTTP)}://${plan.host}`;
  return plan.path ? `${base}/v2/${plan.path}` : base;
}

function hostBlock(url: string, plan: MirrorPlan, capabilities: readonly string[], overridePath: boolean): string[] {
  const lines = [`[host.${quote(url)}]`, `  capabilities = ${quoteList(capabilities)}`];
  if (!plan.registry.plainHTTP && plan.registry.caFile) lines.push(`  ca = ${quote(plan.registry.caFile)}`);
  if (!plan.registry.plainHTTP && plan.registry.skipTLSVerify) lines.push('  skip_verify = true');
  if (overridePath) lines.push('  override_path = true');
  return lines;
}

function mirrorFile(up: Upstream, plan: MirrorPlan): string {
  const head = `# Written by kko mirror render: pull ${up.registry} images from ${plan.registry.privateRegistry} first.`;
  // pull + resolve: a private mirror is trusted to resolve tags (hosts.md "capabilities field" table), never to push.
  return [
    head,
    `server = ${quote(up.server)}`,
    '',
    ...hostBlock(hostUrl(plan), plan, ['pull', 'resolve'], plan.path !== ''),
    '',
  ].join('\n');
}

// The local registry's own namespace, so `ctr/crictl pull <privateRegistry>/…` (kk's names) finds its scheme and CA.
function localFile(plan: MirrorPlan): string {
  const url = `${schemeOf(plan.registry.plainHTTP)}://${plan.host}`;
  const head = `# Written by kko mirror render: how to reach ${plan.host} itself.`;
  return [head, `server = ${quote(url)}`, '', ...hostBlock(url, plan, ['pull', 'resolve', 'push'], false), ''].join(
    '\n',
  );
}

function unservable(up: Upstream): Issue | undefined {
  const bad = rewrittenImages(up);
  if (bad.length === 0) return undefined;
  const all = bad.length === up.images.length;
  const list = bad.map((i) => `${i.ref} (pushed as ${i.pushed}, a mirror asks for ${i.viaMirror})`).join(', ');
  return {
    severity: 'warning',
    code: 'NAMESPACE_REWRITE',
    message: `containerd can only prefix a path, not rewrite namespaces: ${all ? 'no hosts.toml for ' + up.registry + '; ' : ''}${list}`,
    hint: `pull them by their private names (e.g. ${bad[0]?.pushed ?? ''}), use --format registries.conf (CRI-O, podman), or push with kk ≥ v3.1.7, which keeps the source namespace`,
  };
}

// Render DIR/<upstream>/hosts.toml for every upstream the manifest uses, plus DIR/<local host>/hosts.toml.
export function renderContainerd(plan: MirrorPlan): RenderedConfig {
  const files = [];
  const issues: Issue[] = [];
  for (const up of plan.upstreams) {
    const problem = unservable(up);
    if (problem) issues.push(problem);
    if (rewrittenImages(up).length < up.images.length)
      files.push({ path: `${up.registry}/hosts.toml`, text: mirrorFile(up, plan) });
  }
  if (!plan.upstreams.some((u) => u.registry === plan.host))
    files.push({ path: `${plan.host}/hosts.toml`, text: localFile(plan) });
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, issues };
}
