import type { Document } from 'yaml';
import type { z } from 'zod';
import type { Issue } from '../errors.js';
import { formatPath, positionOf, type YamlSource } from '../util/yaml-doc.js';
import { MANIFEST_API_VERSION, MANIFEST_KIND, manifestSchema, type KkManifest } from './schema.js';

// Stand-ins for required fields that are missing or wrong (the schema issue itself is reported).
const STANDINS: Record<string, unknown> = {
  apiVersion: MANIFEST_API_VERSION,
  kind: MANIFEST_KIND,
  metadata: { name: '' },
  'metadata.name': '',
  spec: {},
};
const MAX_PASSES = 8;
const DROP = Symbol('drop');

// A manifest repaired for `manifest validate`, and which array elements had to be dropped (by original index).
export type Salvaged = { manifest: KkManifest; dropped: Map<string, number[]> };

// Best effort for `manifest validate`: the manifest with every field the schema rejected repaired or dropped, so
// the kk rules and the completeness check still run in the same pass (one bad file, one run). Never used to export.
export function salvageManifest(doc: Document.Parsed): Salvaged | undefined {
  const value: unknown = doc.toJS({ maxAliasCount: 100 }); // a fresh copy: the repair mutates it
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const origins: Origins = new Map();
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const result = manifestSchema.safeParse(value, { reportInput: true });
    if (result.success) return { manifest: result.data, dropped: droppedIndices(origins) };
    for (const zi of result.error.issues) repair(value, zi);
    sweep(value, [], origins);
  }
  return undefined;
}

// A non-string scalar where a string belongs becomes that string (what quoting gives); a required top-level field
// gets a stand-in; a missing required field drops its holder; anything else is dropped itself.
function repair(root: object, zi: z.core.$ZodIssue): void {
  const path = zi.path as PropertyKey[];
  const input = getAt(root, path);
  const standin = STANDINS[path.join('.')];
  if (standin !== undefined) setAt(root, path, structuredClone(standin));
  else if (
    zi.code === 'invalid_type' &&
    zi.expected === 'string' &&
    (typeof input === 'number' || typeof input === 'boolean')
  )
    setAt(root, path, String(input));
  else if (input === undefined && path.length > 0) setAt(root, path.slice(0, -1), DROP);
  else setAt(root, path, DROP);
}

// Remove DROP marks; arrays remember which original index each remaining element had.
function sweep(node: unknown, path: PropertyKey[], origins: Origins): void {
  if (Array.isArray(node)) {
    const entry = origins.get(node) ?? { path: formatPath(path), length: node.length, orig: node.map((_, i) => i) };
    const keep = node.map((v, i) => [v, entry.orig[i] as number] as const).filter(([v]) => v !== DROP);
    node.splice(0, node.length, ...keep.map(([v]) => v));
    entry.orig = keep.map(([, i]) => i);
    origins.set(node, entry);
    node.forEach((v, i) => sweep(v, [...path, entry.orig[i] as number], origins));
  } else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (v === DROP) delete (node as Record<string, unknown>)[k];
      else sweep(v, [...path, k], origins);
    }
  }
}

type Origins = Map<unknown[], { path: string; length: number; orig: number[] }>;

function droppedIndices(origins: Origins): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const { path, length, orig } of origins.values()) {
    const gone = [...Array(length).keys()].filter((i) => !orig.includes(i));
    if (gone.length > 0) out.set(path, gone);
  }
  return out;
}

// Rule issues on a salvaged manifest index its (shorter) arrays: map them back to the file's indices and positions.
export function restoreIssuePaths(
  issues: Issue[],
  dropped: Map<string, number[]>,
  doc: Document.Parsed,
  source: YamlSource,
): Issue[] {
  if (dropped.size === 0) return issues;
  return issues.map((issue) => {
    for (const [arr, gone] of dropped) {
      const m = issue.path?.startsWith(`${arr}[`) ? /^\[(\d+)\](.*)$/.exec(issue.path.slice(arr.length)) : null;
      if (!m) continue;
      let index = Number(m[1]);
      for (const g of gone) if (g <= index) index++;
      const path = `${arr}[${index}]${m[2] ?? ''}`;
      return { ...issue, path, ...positionOf(doc, source.lines, parsePath(path)) };
    }
    return issue;
  });
}

// "spec.images[3].x" → ['spec', 'images', 3, 'x'].
function parsePath(dotted: string): PropertyKey[] {
  return [...dotted.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) =>
    m[2] !== undefined ? Number(m[2]) : (m[1] as string),
  );
}

function getAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path)
    node = typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined;
  return node;
}

function setAt(root: unknown, path: readonly PropertyKey[], v: unknown): void {
  if (path.length === 0) return;
  const parent = getAt(root, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null)
    (parent as Record<PropertyKey, unknown>)[path[path.length - 1] as PropertyKey] = v;
}
