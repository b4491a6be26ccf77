import { byteOrder } from '../util/byte-order.js';
import { createHash } from 'node:crypto';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { blobHex, BLOBS_PREFIX, INDEX_NAME, INVENTORY_NAME, parseLayoutIndex, refNameOf } from './docs.js';
import { HAVE_API_VERSION, HAVE_KIND, type HaveList } from '../artifact-format/index.js';
import { scanArtifact } from './scan.js';
import { ArtifactProblemsError, summarizeProblems } from './types.js';
import { trustOfScan, verifyScan } from './verify.js';

// #12 item 3, first step: `kko artifact inventory ART > have.json` says what the air-gapped side already holds: every
// blob digest, every layout ref, every other file's sha256 and size, and which artifact that was (the sha256 of its
// kko/inventory.json). Only a verified artifact is listed: a have-list from a corrupt one would hide missing content.

// The have-list of an artifact on disk (one streaming pass, everything re-hashed and verified).
export async function haveOf(path: string, opts: { catalog?: Catalog; signal?: AbortSignal } = {}): Promise<HaveList> {
  const catalog = opts.catalog ?? (await loadCatalog());
  const scan = await scanArtifact(path, opts.signal ? { signal: opts.signal } : {});
  const report = verifyScan(scan, trustOfScan(scan, { catalog }));
  if (!report.ok)
    throw new ArtifactProblemsError(
      `listing ${path}: ${summarizeProblems(report.problems)}; a have-list needs an intact artifact`,
      report.problems,
    );
  const files = [...scan.files.values()];
  const index = scan.docs.get(INDEX_NAME);
  const refs = index
    ? Object.fromEntries(
        parseLayoutIndex(index)
          .manifests.flatMap((d) => (refNameOf(d) ? [[refNameOf(d) as string, d.digest] as const] : []))
          .sort(([a], [b]) => byteOrder(a, b)),
      )
    : {};
  const inventory = scan.docs.get(INVENTORY_NAME);
  return {
    apiVersion: HAVE_API_VERSION,
    kind: HAVE_KIND,
    base: {
      artifact: path,
      ...(inventory ? { inventorySha256: createHash('sha256').update(inventory).digest('hex') } : {}),
    },
    refs,
    blobs: files
      .flatMap((f) =>
        f.name.startsWith(BLOBS_PREFIX) && blobHex(f.name) ? [`sha256:${blobHex(f.name) as string}`] : [],
      )
      .sort(byteOrder),
    files: files
      .filter((f) => !f.name.startsWith(BLOBS_PREFIX) && !f.name.startsWith('kko/') && f.sha256)
      .map((f) => ({ path: f.name, sha256: f.sha256 as string, size: f.size }))
      .sort((a, b) => byteOrder(a.path, b.path)),
  };
}
export type { HaveList } from '../artifact-format/index.js';
