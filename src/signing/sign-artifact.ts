import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { withChecksums } from '../archive/checksums.js';
import type { ArchiveCompression, ArchiveEntry } from '../archive/reader.js';
import type { TarEntry } from '../archive/tar.js';
import { writeArchive } from '../archive/write.js';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { INVENTORY_NAME, MANIFEST_NAME, SIGNATURE_NAME } from '../artifact-format/index.js';
import { openArtifact } from '../artifact-read/open.js';
import { scanArtifact } from '../artifact-read/scan.js';
import { ArtifactProblemsError, summarizeProblems, type ScanResult } from '../artifact-read/types.js';
import { trustOfScan, verifyScan } from '../artifact-read/verify.js';
import { storedEntries, writerOrder } from '../artifact-read/writer-layout.js';
import { KkoError } from '../errors.js';
import { signatureEntry, type Signer } from './signature.js';

// output: where the signed artifact goes (default: the artifact itself, replaced by rename once complete).
export type SignOptions = {
  artifact: string;
  output?: string;
  signer: Signer;
  env: NodeJS.ProcessEnv;
  catalog?: Catalog;
  signal?: AbortSignal;
};
export type SignReport = {
  readonly artifact: string;
  readonly output: string;
  readonly compression: ArchiveCompression;
  readonly files: number;
  readonly resigned: boolean;
};

// Bytes of an entry, checked against the hash the verify pass saw (the file may have changed in between).
function checked(body: Readable, name: string, sha256: string | undefined): Readable {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = hash.digest('hex');
      cb(
        got === sha256
          ? null
          : new KkoError(
              'ARTIFACT_CORRUPT',
              `signing: ${name} changed while the artifact was rewritten (sha256 ${got}, verified as ${sha256 ?? '?'})`,
            ),
      );
    },
  });
  body.on('error', (err) => tap.destroy(err));
  return body.pipe(tap);
}

// The content entries (everything outside kko/), in the order kko writes them, which must be the archive's own order:
// pass two streams them from the archive as the writer reaches them.
function contentNames(scan: ScanResult): string[] {
  const names = [...scan.files.keys()].filter((n) => !n.startsWith('kko/'));
  const sorted = writerOrder(names);
  if (sorted.some((n, i) => n !== names[i])) {
    throw new KkoError(
      'INVALID_INPUT',
      `signing ${scan.artifact}: its entries are not in the order kko writes them (re-packed by another tool?)`,
      { hint: 'sign it at export: `kko artifact export … --sign-key KEY`' },
    );
  }
  return names;
}

// Pulls the archive's next content entry (kko/ metadata is skipped: it is rewritten from pass one's bytes).
function entryPuller(entries: AsyncGenerator<ArchiveEntry>): (name: string) => Promise<ArchiveEntry> {
  return async (name) => {
    for (;;) {
      const r = await entries.next();
      if (r.done)
        throw new KkoError('ARTIFACT_CORRUPT', `signing: ${name} is gone from the archive since it was verified`);
      if (r.value.type !== 'file' || r.value.name.startsWith('kko/')) continue;
      if (r.value.name !== name)
        throw new KkoError(
          'ARTIFACT_CORRUPT',
          `signing: the archive changed since it was verified (${r.value.name} where ${name} was)`,
        );
      return r.value;
    }
  };
}

// The metadata of the signed artifact: inventory and manifest as they are, a new signature (an old one is replaced).
function metaEntries(scan: ScanResult, signer: Signer): TarEntry[] {
  const doc = (name: string): TarEntry[] => {
    const data = scan.docs.get(name);
    return data ? [{ name, data, first: true }] : [];
  };
  const meta = [...doc(INVENTORY_NAME), ...doc(MANIFEST_NAME)];
  return [...meta, signatureEntry(meta, signer)];
}

// `kko artifact sign`: verify the artifact as a signature will vouch for it (every file accounted for by the inventory),
// then rewrite it in one streaming pass with kko/inventory.json.sig beside the inventory and SHA256SUMS listing it:
// same compression, same order, byte for byte what `artifact export --sign-key` writes for the same inputs.
export async function signArtifact(opts: SignOptions): Promise<SignReport> {
  const catalog = opts.catalog ?? (await loadCatalog());
  const scan = await scanArtifact(opts.artifact, opts.signal ? { signal: opts.signal } : {});
  const report = verifyScan(scan, trustOfScan(scan, { catalog, covered: true }));
  if (!report.ok)
    throw new ArtifactProblemsError(
      `signing ${opts.artifact}: ${summarizeProblems(report.problems)}; nothing was signed`,
      report.problems,
    );
  const names = contentNames(scan);
  const stored = storedEntries(scan.manifests);
  const art = await openArtifact(opts.artifact);
  const pull = entryPuller(art.entries);
  const content: TarEntry[] = names.map((name) => {
    const f = scan.files.get(name);
    const flag = stored(name) ? { compressed: true } : {};
    return {
      name,
      size: f?.size ?? 0,
      ...(f?.sha256 ? { sha256: f.sha256 } : {}),
      open: async () => checked((await pull(name)).body, name, f?.sha256),
      ...flag,
    };
  });
  const output = opts.output ?? opts.artifact;
  const entries = withChecksums([...metaEntries(scan, opts.signer), ...content]);
  try {
    await writeArchive(entries, output, scan.compression, opts.env, opts.signal ? { signal: opts.signal } : {});
  } finally {
    art.close();
  }
  return {
    artifact: opts.artifact,
    output,
    compression: scan.compression,
    files: entries.length,
    resigned: scan.docs.has(SIGNATURE_NAME),
  };
}
