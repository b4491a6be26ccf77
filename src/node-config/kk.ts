import { dirname } from 'node:path';
import type { Issue } from '../errors.js';
import { DOCKER_HUB } from '../reference/index.js';
import type { MirrorPlan } from './plan.js';
import { quote, quoteList, schemeOf } from './text.js';
import type { RenderedConfig } from './types.js';

// The `registry:` block of a kk Cluster config (kk create config's fields). kk pulls by
// <privateRegistry>/<namespaceOverride or default namespace>/<name>; registryMirrors go into dockerd/containerd
// as Docker Hub mirrors; auths are keyed by the host part of privateRegistry (kubekey.md §3.8 step 4), and
// certsPath is a directory whose *.crt files are the CA.

function authLines(plan: MirrorPlan): { lines: string[]; issues: Issue[] } {
  const reg = plan.registry;
  const issues: Issue[] = [];
  const lines = [
    `    ${quote(plan.host)}:`,
    '      # username: <user>    (add when the registry needs a login)',
    '      # password: <password>',
    `      skipTLSVerify: ${reg.skipTLSVerify || reg.plainHTTP}`,
    `      plainHTTP: ${reg.plainHTTP}`,
  ];
  if (reg.caFile && !reg.plainHTTP) {
    lines.push(`      certsPath: ${quote(dirname(reg.caFile))}`);
    if (!reg.caFile.endsWith('.crt'))
      issues.push({
        severity: 'warning',
        code: 'CA_FILE',
        message: `kk reads only *.crt files from certsPath ${dirname(reg.caFile)}; ${reg.caFile} will be ignored`,
        hint: 'name the CA file ca.crt',
      });
  }
  return { lines, issues };
}

// Render registry.yaml: paste it under the Cluster's spec.
export function renderKk(plan: MirrorPlan): RenderedConfig {
  const reg = plan.registry;
  const hub = plan.upstreams.some((u) => u.registry === DOCKER_HUB) && plan.path === '';
  const auth = authLines(plan);
  const lines = [
    '# Written by kko mirror render: the registry block of a kk Cluster config (under spec:).',
    'registry:',
    `  privateRegistry: ${quote(reg.privateRegistry)}`,
    `  namespaceOverride: ${quote(reg.namespaceOverride ?? '')}`,
    `  registryMirrors: ${quoteList(hub ? [`${schemeOf(reg.plainHTTP)}://${plan.host}`] : [])}`,
    `  insecureRegistries: ${quoteList(reg.plainHTTP || reg.skipTLSVerify ? [plan.host] : [])}`,
    '  auths:',
    ...auth.lines,
    '',
  ];
  return { files: [{ path: 'registry.yaml', text: lines.join('\n') }], issues: auth.issues };
}
