// Where a path of a KubeKey artifact belongs (kubekey.md §3.3, §3.5, §3.7): <type>/<version>/<arch>/<file> binaries,
// registry/<id>/<version>/<arch>/<file>, repository/<arch>/<id>/<version>/<file>.iso, kko/ metadata, images/.

export type PathClass = 'image' | 'binary' | 'iso' | 'metadata' | 'other';
export type PathGroup = {
  readonly class: PathClass;
  readonly component: string;
  readonly version?: string;
  readonly arch?: string;
};

const ARCHES: ReadonlySet<string> = new Set(['amd64', 'arm64', 'arm', 'ppc64le', 's390x', 'riscv64', '386', 'loong64']);

// The group of one archive path; blobs are not grouped here (images are counted from the layout).
export function classifyPath(name: string): PathGroup {
  const s = name.split('/');
  if (s[0] === 'kko' || name === 'images/index.json' || name === 'images/oci-layout')
    return { class: 'metadata', component: s[0] ?? name };
  if (s[0] === 'images') return { class: 'image', component: 'blobs' };
  if (s[0] === 'repository' && s.length === 5 && ARCHES.has(s[1] ?? ''))
    return { class: 'iso', component: `repository/${s[2]}`, version: s[3] as string, arch: s[1] as string };
  if (s[0] === 'registry' && s.length === 5 && ARCHES.has(s[3] ?? ''))
    return { class: 'binary', component: `registry/${s[1]}`, version: s[2] as string, arch: s[3] as string };
  if (s.length === 4 && ARCHES.has(s[2] ?? ''))
    return { class: 'binary', component: s[0] as string, version: s[1] as string, arch: s[2] as string };
  return { class: 'other', component: s.length > 1 ? (s[0] as string) : name };
}
