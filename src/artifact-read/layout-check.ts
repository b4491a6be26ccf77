import type { Descriptor } from '../oci/index.js';
import { isImageManifestMediaType, isIndexMediaType, parseManifestJson } from '../oci/index.js';
import { blobHex, blobPath, INDEX_NAME, OCI_LAYOUT_NAME, parseLayoutIndex, refNameOf } from './docs.js';
import type { ProblemList } from './problems.js';
import type { ScanResult } from './types.js';

const MAX_DEPTH = 4; // index.json → (index →) manifest → blobs; deeper nesting is not something kk or kko writes

function checkOciLayoutFile(scan: ScanResult, problems: ProblemList): void {
  const bytes = scan.docs.get(OCI_LAYOUT_NAME);
  if (!bytes)
    return problems.add({ kind: 'missing', path: OCI_LAYOUT_NAME, detail: 'required by the OCI image layout' });
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { imageLayoutVersion?: unknown };
    if (typeof doc.imageLayoutVersion !== 'string')
      problems.add({ kind: 'corrupt', path: OCI_LAYOUT_NAME, detail: 'no imageLayoutVersion' });
  } catch {
    problems.add({ kind: 'corrupt', path: OCI_LAYOUT_NAME, detail: 'not JSON' });
  }
}

// Walks descriptors from index.json: every blob present at its declared size, every manifest's children too.
class LayoutWalker {
  readonly #visited = new Set<string>();
  readonly reached = new Set<string>(); // blob paths some descriptor names
  constructor(
    readonly scan: ScanResult,
    readonly problems: ProblemList,
    readonly omitted: ReadonlyMap<string, number>, // #12 item 3: blobs a delta leaves out (in its base), by path
  ) {}

  // `depth`: how deep this manifest is below index.json; undefined for a config or layer (checked, not opened).
  descriptor(d: Descriptor, from: string, depth: number | undefined): void {
    const path = blobPath(d.digest);
    // Keyed by role and size, not by blob: a digest one image uses as a layer may be another's manifest, and each
    // descriptor's declared size is a claim of its own.
    const key = `${path}\0${d.size}\0${depth === undefined ? 'blob' : 'manifest'}`;
    if (this.#visited.has(key)) return;
    this.#visited.add(key);
    this.reached.add(path);
    const file = this.scan.files.get(path);
    const omitted = this.omitted.get(path);
    if (!file && omitted !== undefined && depth === undefined) {
      if (omitted !== d.size)
        this.problems.add({
          kind: 'corrupt',
          path,
          detail: `size ${d.size} in ${from}, delta.omitted says ${omitted}`,
        });
      return; // in the delta's base: import and push check it is there
    }
    if (!file) {
      // A foreign (non-distributable) layer carries urls: consumers (skopeo, containerd) would fetch it from there,
      // which an offline artifact must never make them do.
      const detail = d.urls?.length
        ? `foreign layer referenced by ${from} is not in the artifact; consumers would fetch it from ${d.urls.length} URL(s)`
        : `referenced by ${from}`;
      this.problems.add({ kind: 'missing', path, detail });
      return;
    }
    if (file.size !== d.size)
      return this.problems.add({ kind: 'corrupt', path, detail: `size want ${d.size} got ${file.size}` });
    if (depth !== undefined && file.sha256 === blobHex(path)) this.#children(path, d, depth);
  }

  #children(path: string, d: Descriptor, depth: number): void {
    const bytes = this.scan.manifests.get(blobHex(path) ?? '');
    if (!bytes) return this.problems.add({ kind: 'corrupt', path, detail: 'not a readable image manifest' });
    if (depth >= MAX_DEPTH) return this.problems.add({ kind: 'corrupt', path, detail: 'manifests nested too deep' });
    let parsed;
    try {
      parsed = parseManifestJson(bytes, d.mediaType);
    } catch (err) {
      return this.problems.add({ kind: 'corrupt', path, detail: (err as Error).message });
    }
    const children =
      parsed.kind === 'index' ? parsed.manifest.manifests : [parsed.manifest.config, ...parsed.manifest.layers];
    const nested = (c: Descriptor): number | undefined =>
      parsed.kind === 'index' && (isIndexMediaType(c.mediaType) || isImageManifestMediaType(c.mediaType))
        ? depth + 1
        : undefined;
    for (const c of children) this.descriptor(c, `manifest ${path}`, nested(c));
  }
}

// The OCI layout under images/ is complete: oci-layout, index.json, every manifest it names, their configs and layers.
// Returns the blob paths reached from index.json.
// `omitted`: a delta's left-out blobs (path → size), counted as in its base, not missing.
export function checkLayout(
  scan: ScanResult,
  problems: ProblemList,
  omitted: ReadonlyMap<string, number> = new Map(),
): ReadonlySet<string> {
  const none = new Set<string>();
  if (![...scan.files.keys()].some((n) => n.startsWith('images/'))) return none; // a binaries-only artifact
  checkOciLayoutFile(scan, problems);
  const bytes = scan.docs.get(INDEX_NAME);
  if (!bytes) {
    problems.add({ kind: 'missing', path: INDEX_NAME, detail: 'required by the OCI image layout' });
    return none;
  }
  let index;
  try {
    index = parseLayoutIndex(bytes);
  } catch (err) {
    problems.add({ kind: 'corrupt', path: INDEX_NAME, detail: (err as Error).message });
    return none;
  }
  const walker = new LayoutWalker(scan, problems, omitted);
  index.manifests.forEach((d, i) => walker.descriptor(d, `${INDEX_NAME} ${refNameOf(d) ?? `manifests[${i}]`}`, 0));
  return walker.reached;
}
