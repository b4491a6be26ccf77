import { VERSION } from '../../version.js';
import { catalogFor } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import type { VersionOptions } from '../commands/version.js';

// `kko version`: kko's own version and what its catalog supports (like `kk version --show-supported-k8s`).
export async function runVersion(o: VersionOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const releases = catalog.kkVersions.map((v) => {
    const p = catalog.profile(v);
    const arm64 = p.kubernetes.arm64Versions;
    return {
      version: v,
      defaultKubernetes: p.kubernetes.default,
      kubernetes: p.kubernetes.versions,
      ...(arm64 ? { arm64Kubernetes: arm64 } : {}),
    };
  });
  if (o.json) return printJson(ctx, { version: VERSION, kk: releases });
  const lines = [
    `kko ${VERSION}`,
    '',
    'kk releases and the Kubernetes versions they install (patch releases per minor):',
  ];
  for (const r of releases) {
    lines.push('', `kk ${r.version} (default Kubernetes ${r.defaultKubernetes})`, ...byMinor(r.kubernetes));
    if (r.arm64Kubernetes) lines.push('  arm64:', ...byMinor(r.arm64Kubernetes).map((l) => `  ${l}`));
  }
  ctx.io.stdout(`${lines.join('\n')}\n`);
}

// ["v1.28.0", "v1.28.1", "v1.29.0"] → ["  v1.28  0 1", "  v1.29  0"]: short lines, every version readable.
function byMinor(versions: readonly string[]): string[] {
  const minors = new Map<string, string[]>();
  for (const v of versions) {
    const at = v.lastIndexOf('.');
    const minor = v.slice(0, at);
    minors.set(minor, [...(minors.get(minor) ?? []), v.slice(at + 1)]);
  }
  return [...minors].map(([minor, patches]) => `  ${minor.padEnd(6)} ${patches.join(' ')}`);
}
