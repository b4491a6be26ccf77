import { ALREADY_COMPRESSED, blobPath, COMPRESSED_MEDIA_TYPE, MANIFEST_NAME } from '../artifact-format/index.js';
import { parseManifestJson } from '../oci/index.js';
import type { ScanResult } from './types.js';

// How kko's archive writer lays an artifact out, read back from one: what a rewrite needs to give the same bytes
// again (`artifact sign`, and `artifact publish` / `pull` of #12). The writer (src/archive/tar.ts) puts `first`
// entries (kko/: inventory, manifest, signature, SHA256SUMS) before the rest, each group in byte order of names, and
// stores instead of compressing the entries flagged `compressed`.

const KKO_PREFIX = MANIFEST_NAME.slice(0, MANIFEST_NAME.indexOf('/') + 1); // "kko/"

// An entry the writer puts first: kko's own metadata.
export function isFirstEntry(name: string): boolean {
  return name.startsWith(KKO_PREFIX);
}

// `names` in the order the writer writes them.
export function writerOrder(names: Iterable<string>): string[] {
  const rank = (n: string): number => (isFirstEntry(n) ? 0 : 1);
  return [...names].sort((a, b) => rank(a) - rank(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

// Blobs the exporter stores instead of deflating (layers whose media type says gzip/zstd, of any manifest the
// artifact holds), so a rewrite compresses exactly as `artifact export` did.
function compressedBlobs(manifests: ScanResult['manifests']): Set<string> {
  const out = new Set<string>();
  for (const bytes of manifests.values()) {
    try {
      const m = parseManifestJson(bytes);
      if (m.kind === 'image')
        for (const d of [m.manifest.config, ...m.manifest.layers])
          if (COMPRESSED_MEDIA_TYPE.test(d.mediaType)) out.add(blobPath(d.digest));
    } catch {
      // the verify pass already accepted the layout; a blob that merely looks like JSON is not a manifest
    }
  }
  return out;
}

// A predicate: does the writer store (not compress) this entry's bytes? Image layers by media type, files outside
// images/ by name (tgz, tar.gz, zst, xz, iso).
export function storedEntries(manifests: ScanResult['manifests']): (name: string) => boolean {
  const blobs = compressedBlobs(manifests);
  return (name) => blobs.has(name) || (!name.startsWith('images/') && ALREADY_COMPRESSED.test(name));
}
