import { parseChecksums, SUMS_NAME } from '../archive/checksums.js';
import { binaryAtPath, type Catalog } from '../catalog/index.js';
import { planIso, type OsEntry } from '../download/index.js';
import {
  blobHex,
  blobPath,
  BLOBS_PREFIX,
  INVENTORY_NAME,
  MANIFEST_NAME,
  inventoryFiles,
  inventoryImages,
  parseStoredManifests,
  SIGNATURE_NAME,
  type InventoryFile,
} from './docs.js';
import {
  imageSignatureDigests,
  imageSignaturesOf,
  parseInventory,
  referrerDigests,
  type Delta,
  type Inventory,
} from '../artifact-format/index.js';
import { classifyPath } from './paths.js';
import type { FileRecord, Problem } from './types.js';

// What one file must hash to, and who says so. An artifact crosses the air gap from a machine the operator does not
// control, so what counts is the anchor: the kko catalog on this machine is trusted; the manifest's ISO checksum was
// given by the user; kko/inventory.json and kko/SHA256SUMS travel inside the same archive (a tamperer rewrites them
// with the file) unless the inventory is signed (#12) and the key given; a blob's own name is content addressing.
export type Anchor = 'catalog' | 'manifest' | 'inventory' | 'checksums' | 'name';
export type Expectation = { readonly anchor: Anchor; readonly sha256: string; readonly size?: number };

export type TrustOptions = {
  catalog: Catalog;
  // #12: checks kko/inventory.json against kko/inventory.json.sig and throws when it does not verify. When given, the
  // signature is required and the signed inventory is the anchor: every file must be accounted for by it (`covered`).
  verifyInventory?: (inventory: Buffer, signature: Buffer) => void;
  // Every file must be accounted for by the inventory (what a signature vouches for); implied by verifyInventory.
  covered?: boolean;
};

// Where the signature check stands: not yet possible, verified, or failed (the problem).
type SignatureState = { state: 'pending' } | { state: 'ok' } | { state: 'bad'; problem: Problem };

const ANCHOR_ORDER: readonly Anchor[] = ['name', 'catalog', 'manifest', 'inventory', 'checksums'];

// kk artifact paths that kko/inventory.json must account for (binaries and OS ISOs).
export function isKkFilePath(name: string): boolean {
  const c = classifyPath(name).class;
  return c === 'binary' || c === 'iso';
}

// The lists and anchors known so far; docs are learnt as the scan meets them (kko writes them first).
export class Trust {
  readonly #catalog: Catalog;
  readonly #verifyInventory: TrustOptions['verifyInventory'];
  readonly covered: boolean;
  #sums: Map<string, string> | undefined;
  #inventory: Map<string, InventoryFile> | undefined;
  #inventoryBlobs = new Set<string>();
  #delta: Delta | undefined;
  #omittedBlobs = new Map<string, number>(); // blob path → size
  #omittedFiles = new Map<string, { sha256: string; size: number }>();
  #inventoryBytes: Buffer | undefined;
  #inventoryDoc: Inventory | undefined;
  #signatureBytes: Buffer | undefined;
  #signature: SignatureState = { state: 'pending' };
  readonly #isoChecksums = new Map<string, string>();
  readonly #docProblems: Problem[] = [];
  manifestRedacted: boolean | undefined;

  constructor(opts: TrustOptions) {
    this.#catalog = opts.catalog;
    this.#verifyInventory = opts.verifyInventory;
    this.covered = Boolean(opts.covered || opts.verifyInventory);
  }

  get signatureChecked(): boolean {
    return this.#verifyInventory !== undefined;
  }
  // Blob paths the inventory names (image manifests, the upstream manifests and indexes kept beside them, and the
  // image signatures of #12).
  get inventoryBlobs(): ReadonlySet<string> {
    return this.#inventoryBlobs;
  }

  // #12 item 3: the inventory's delta field (the base it was made against, what it leaves out), when it is a delta.
  get delta(): Delta | undefined {
    return this.#delta;
  }
  // Blob paths (→ size) and artifact paths a delta leaves out: they are in its base, not missing.
  get omittedBlobs(): ReadonlyMap<string, number> {
    return this.#omittedBlobs;
  }
  get omittedFiles(): ReadonlyMap<string, { sha256: string; size: number }> {
    return this.#omittedFiles;
  }

  get sums(): ReadonlyMap<string, string> | undefined {
    return this.#sums;
  }
  get inventory(): ReadonlyMap<string, InventoryFile> | undefined {
    return this.#inventory;
  }
  // kko/inventory.json as parsed (once, here) for the other checks; undefined when absent or unreadable (a doc problem).
  get inventoryDoc(): Inventory | undefined {
    return this.#inventoryDoc;
  }
  // Problems of the lists themselves (unparseable SHA256SUMS, inventory or manifest).
  get docProblems(): readonly Problem[] {
    return this.#docProblems;
  }

  // Take in one of kko's documents (other names are ignored).
  learn(name: string, bytes: Buffer): void {
    try {
      if (name === SUMS_NAME) this.#sums = parseChecksums(bytes.toString('utf8'));
      else if (name === INVENTORY_NAME) this.#learnInventory(bytes);
      else if (name === MANIFEST_NAME) this.#learnManifest(bytes);
      else if (name === SIGNATURE_NAME) this.#signatureBytes = bytes;
    } catch (err) {
      this.#docProblems.push({ kind: 'corrupt', path: name, detail: (err as Error).message });
    }
    if (name === SIGNATURE_NAME || name === INVENTORY_NAME) this.#checkSignature();
  }

  #learnInventory(bytes: Buffer): void {
    this.#inventoryBytes = bytes;
    const doc = parseInventory(bytes);
    this.#inventoryDoc = doc;
    const inv = inventoryFiles(doc);
    this.#inventory = new Map(inv.files.map((f) => [f.path, f]));
    this.manifestRedacted = inv.manifestRedacted;
    this.#delta = doc.delta;
    this.#omittedBlobs = new Map((this.#delta?.omitted.blobs ?? []).map((b) => [blobPath(b.digest), b.size]));
    this.#omittedFiles = new Map((this.#delta?.omitted.files ?? []).map((f) => [f.path, f]));
    // #12: cosign signatures and referrers carried beside the layout
    const signatures = [...imageSignatureDigests(imageSignaturesOf(doc)), ...referrerDigests(doc.referrers ?? [])];
    this.#inventoryBlobs = new Set(
      [...inventoryImages(doc).flatMap((i) => [i.digest, ...(i.upstream ?? [])]), ...signatures]
        .filter((d) => /^sha256:[a-f0-9]{64}$/.test(d))
        .map(blobPath),
    );
  }

  // Once both the inventory and its signature are known, check them (once).
  #checkSignature(): void {
    const verify = this.#verifyInventory;
    if (!verify || this.#signature.state !== 'pending' || !this.#inventoryBytes || !this.#signatureBytes) return;
    try {
      verify(this.#inventoryBytes, this.#signatureBytes);
      this.#signature = { state: 'ok' };
    } catch (err) {
      this.#signature = {
        state: 'bad',
        problem: { kind: 'corrupt', path: SIGNATURE_NAME, detail: (err as Error).message },
      };
    }
  }

  // With a key: what is wrong with the signature so far (missing, or does not verify); undefined once it verified,
  // and always without a key.
  signatureProblem(): Problem | undefined {
    if (!this.#verifyInventory || this.#signature.state === 'ok') return undefined;
    if (this.#signature.state === 'bad') return this.#signature.problem;
    if (!this.#inventoryBytes)
      return { kind: 'missing', path: INVENTORY_NAME, detail: 'the key given requires a signed inventory' };
    return {
      kind: 'missing',
      path: SIGNATURE_NAME,
      detail: 'the key given requires a signed inventory; this artifact is not signed',
    };
  }

  // The user-given ISO checksums of the manifests the artifact was exported from (same parsing as export: planIso).
  #learnManifest(bytes: Buffer): void {
    for (const m of parseStoredManifests(bytes)) {
      const oses = ((m as { spec?: { operatingSystems?: unknown } }).spec?.operatingSystems ?? []) as OsEntry[];
      if (!Array.isArray(oses)) continue;
      for (const os of oses) {
        const iso = planIso(os);
        if (iso?.checksum) this.#isoChecksums.set(iso.path, iso.checksum.slice('sha256:'.length));
      }
    }
  }

  // Everything known about what `name` must hash to, strongest anchor first.
  expectations(name: string): Expectation[] {
    const out: Expectation[] = [];
    if (name.startsWith(BLOBS_PREFIX)) {
      const hex = blobHex(name);
      if (hex) out.push({ anchor: 'name', sha256: hex });
    }
    const c = classifyPath(name).class;
    const catalogSha = c === 'binary' ? binaryAtPath(this.#catalog, name)?.sha256 : undefined;
    if (catalogSha) out.push({ anchor: 'catalog', sha256: catalogSha });
    const isoSha = this.#isoChecksums.get(name);
    if (isoSha) out.push({ anchor: 'manifest', sha256: isoSha });
    const row = this.#inventory?.get(name);
    if (row)
      out.push({ anchor: 'inventory', sha256: row.sha256, ...(row.size !== undefined ? { size: row.size } : {}) });
    const sum = this.#sums?.get(name);
    if (sum) out.push({ anchor: 'checksums', sha256: sum });
    return out.sort((a, b) => ANCHOR_ORDER.indexOf(a.anchor) - ANCHOR_ORDER.indexOf(b.anchor));
  }

  // The strongest anchor that vouches for `name`, or undefined when nothing does.
  anchorOf(name: string): Anchor | undefined {
    return this.expectations(name)[0]?.anchor;
  }

  // What the header alone tells, before a byte of the body is read: not in a list that is known, or the wrong size.
  admit(name: string, size: number): Problem | undefined {
    if (name === SUMS_NAME) return undefined;
    if (this.#sums && !this.#sums.has(name)) return { kind: 'extra', path: name, detail: `not in ${SUMS_NAME}` };
    if (this.#inventory && isKkFilePath(name) && !this.#inventory.has(name))
      return { kind: 'extra', path: name, detail: `not in ${INVENTORY_NAME}` };
    if (this.covered && this.#inventory && !this.#coveredName(name))
      return { kind: 'extra', path: name, detail: `not accounted for by ${INVENTORY_NAME}, which a signature covers` };
    const want = this.#inventory?.get(name)?.size;
    if (want !== undefined && want !== size)
      return { kind: 'corrupt', path: name, detail: `size want ${want} got ${size} (${INVENTORY_NAME})` };
    return undefined;
  }

  // Names the inventory accounts for itself or through its lists; blobs are accounted for by reachability (checks.ts).
  #coveredName(name: string): boolean {
    return (
      name === INVENTORY_NAME ||
      name === SIGNATURE_NAME ||
      name === SUMS_NAME ||
      name.startsWith(BLOBS_PREFIX) ||
      Boolean(this.#inventory?.has(name))
    );
  }

  // A hashed file against every expectation; the first one it fails is the problem (named after its anchor).
  check(f: FileRecord): Problem | undefined {
    const early = this.admit(f.name, f.size);
    if (early) return early;
    if (f.deferred) return this.#checkDeferred(f);
    for (const e of this.expectations(f.name)) {
      if (f.sha256 !== e.sha256)
        return {
          kind: 'corrupt',
          path: f.name,
          detail: `sha256 want ${e.sha256} got ${f.sha256 ?? 'unknown'} (${anchorName(e.anchor)})`,
        };
    }
    return undefined;
  }

  // A file whose hash the reader checks later (on-read mode): a blob is read against its name, so every list must
  // name that same digest, and then the read checks them all at once. A file that is not a blob is never read by the
  // stores that open this way, and stays unchecked (the report counts it as deferred).
  #checkDeferred(f: FileRecord): Problem | undefined {
    const hex = blobHex(f.name);
    if (!hex) return undefined;
    for (const e of this.expectations(f.name)) {
      if (e.sha256 !== hex)
        return {
          kind: 'corrupt',
          path: f.name,
          detail: `sha256 want ${e.sha256} (${anchorName(e.anchor)}), but its blob name says ${hex}`,
        };
    }
    return undefined;
  }
}

// How a problem detail names an anchor.
export function anchorName(a: Anchor): string {
  return {
    name: 'blob name',
    catalog: 'kko catalog',
    manifest: `iso.checksum in ${MANIFEST_NAME}`,
    inventory: INVENTORY_NAME,
    checksums: SUMS_NAME,
  }[a];
}
