#!/usr/bin/env node
// Build step (after tsc): check the shipped catalog with the compiled loader, then write
// dist/catalog.bundle.json — every catalog file already parsed and checked by the schema (defaults applied), keyed by
// its path under catalog/ with its size and sha256 — so commands skip YAML parsing and the schema at start-up. A file
// that changed since is parsed and checked again (content, not mtime: npm pack/install rewrite mtimes), and so is
// every file once the compiled schema differs from the one named in the bundle (its sha256).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const catalogDir = join(root, 'catalog');
const { catalogSchemaDigest, checkShippedCatalog } = await import(
  new URL('../dist/catalog/load.js', import.meta.url).href
);
const checked = await checkShippedCatalog(catalogDir); // throws on any schema error: no bundle for a bad catalog

const files = {};
for (const [file, data] of [...checked].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
  const bytes = await readFile(file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  files[relative(catalogDir, file)] = { size: bytes.length, sha256, data };
}
const schema = await catalogSchemaDigest();
await writeFile(join(root, 'dist', 'catalog.bundle.json'), JSON.stringify({ version: 3, schema, files }));
