#!/usr/bin/env node
// Build step (after tsc): check the shipped catalog with the compiled loader, then write
// dist/catalog.bundle.json — every catalog file already parsed, keyed by its path under catalog/ with
// its size and sha256 — so commands skip YAML parsing at start-up. A file that changed since is parsed again.
// (Content, not mtime: npm pack/install rewrite mtimes.)
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const catalogDir = join(root, 'catalog');
const { loadCatalog } = await import(new URL('../dist/catalog/load.js', import.meta.url).href);
await loadCatalog({ builtinDir: catalogDir }); // throws on any schema error: no bundle for a bad catalog

async function walk(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

const files = {};
for (const file of await walk(catalogDir)) {
  const bytes = await readFile(file);
  const text = bytes.toString('utf8');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  files[relative(catalogDir, file)] = {
    size: bytes.length,
    sha256,
    data: file.endsWith('.json') ? JSON.parse(text) : parse(text),
  };
}
await writeFile(join(root, 'dist', 'catalog.bundle.json'), JSON.stringify({ version: 2, files }));
