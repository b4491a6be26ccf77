import { parseChecksums, SUMS_NAME } from '../archive/checksums.js';
import { binaryAtPath, type Catalog } from '../catalog/index.js';
import { planIso, type OsEntry } from '../download/index.js';
import { blobHex, BLOBS_PREFIX, INVENTORY_NAME, MANIFEST_NAME, parseInventoryFiles, parseStoredManifests, type InventoryFile } from './docs.js';
import { classifyPath } from './paths.js';
import type { FileRecord, Problem } from './types.js';

// What one file must hash to, and who says so. An artifact crosses the air gap from a machine the operator does not
// control, so what counts is the anchor: the kko catalog on this machine is trusted; the manifest's ISO checksum was
// given by the user; kko/inventory.json and kko/SHA256SUMS travel inside the same archive (a tamperer rewrites them
// with the file) until #12 signs the inventory; a blob's own name is content addressing.
export type Anchor = 'catalog' | 'manifest' | 'inventory' | 'checksums' | 'name';
export type Expectation = { readonly anchor: Anchor; readonly sha256: string; readonly size?: number };

export type TrustOptions = {
  catalog: Catalog;
  // #12: checks the inventory's signature and throws when it is bad; the inventory then counts as an anchor of its own.
  verifyInventory?: (inventory: Buffer) => void;
};

const ANCHOR_ORDER: readonly Anchor[] = ['name', 'catalog', 'manifest', 'inventory', 'checksums'];

// kk artifact paths that kko/inventory.json must account for (binaries and OS ISOs).
export function isKkFilePath(name: string): boolean {
  const c = classifyPath(name).class;
  return c === 'binary' || c === 'iso';
}

// The lists and anchors known so far; docs are learnt as the scan meets them (kko writes them first).
export class Trust {
  readonly #catalog: Catalog;
  readonly #verifyInventory: ((b: Buffer) => void) | undefined;
  #sums: Map<string, string> | undefined;
  #inventory: Map<string, InventoryFile> | undefined;
  readonly #isoChecksums = new Map<string, string>();
  readonly #docProblems: Problem[] = [];
  manifestRedacted: boolean | undefined;

  constructor(opts: TrustOptions) {
    this.#catalog = opts.catalog;
    this.#verifyInventory = opts.verifyInventory;
  }

  get sums(): ReadonlyMap<string, string> | undefined {
    return this.#sums;
  }
  get inventory(): ReadonlyMap<string, InventoryFile> | undefined {
    return this.#inventory;
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
    } catch (err) {
      this.#docProblems.push({ kind: 'corrupt', path: name, detail: (err as Error).message });
    }
  }

  #learnInventory(bytes: Buffer): void {
    this.#verifyInventory?.(bytes);
    const inv = parseInventoryFiles(bytes);
    this.#inventory = new Map(inv.files.map((f) => [f.path, f]));
    this.manifestRedacted = inv.manifestRedacted;
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
    if (row) out.push({ anchor: 'inventory', sha256: row.sha256, ...(row.size !== undefined ? { size: row.size } : {}) });
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
    if (this.#inventory && isKkFilePath(name) && !this.#inventory.has(name)) return { kind: 'extra', path: name, detail: `not in ${INVENTORY_NAME}` };
    const want = this.#inventory?.get(name)?.size;
    if (want !== undefined && want !== size) return { kind: 'corrupt', path: name, detail: `size want ${want} got ${size} (${INVENTORY_NAME})` };
    return undefined;
  }

  // A hashed file against every expectation; the first one it fails is the problem (named after its anchor).
  check(f: FileRecord): Problem | undefined {
    const early = this.admit(f.name, f.size);
    if (early) return early;
    for (const e of this.expectations(f.name)) {
      if (f.sha256 !== e.sha256) return { kind: 'corrupt', path: f.name, detail: `sha256 want ${e.sha256} got ${f.sha256 ?? 'unknown'} (${anchorName(e.anchor)})` };
    }
    return undefined;
  }
}

// How a problem detail names an anchor.
export function anchorName(a: Anchor): string {
  return { name: 'blob name', catalog: 'kko catalog', manifest: `iso.checksum in ${MANIFEST_NAME}`, inventory: INVENTORY_NAME, checksums: SUMS_NAME }[a];
}
