import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Which way imports go (STYLE.md), kept by a test as go-containerregistry's cmd/crane/depcheck_test.go keeps its
// own: every module of src/ (a folder, or a top-level file) lists the modules it may import, and a list may only
// name modules below it, so the graph stays a DAG. A lower module that reaches up (catalog → manifest,
// download → registry internals, signing → export) fails here, naming the file and the import.

const BASE = ['errors', 'log', 'version', 'util'];
const CORE = [...BASE, 'reference', 'oci'];

const LAYERS: Record<string, readonly string[]> = {
  errors: [],
  log: [],
  version: [],
  'schema-url': ['version'],
  util: ['errors', 'log'],
  reference: ['errors', 'util'],
  oci: ['errors', 'util', 'reference'],
  // One host's settings (TLS, credentials, plain HTTP, concurrency), for sources and destinations alike.
  host: [...BASE],
  'artifact-format': [...CORE],
  // The seams every image store implements.
  content: [...CORE],
  mirror: [...CORE, 'host'],
  cache: [...CORE, 'content'],
  registry: [...CORE, 'host', 'content'],
  layout: [...CORE, 'cache', 'content'],
  copy: [...CORE, 'content'],
  catalog: [...CORE, 'mirror'],
  manifest: [...CORE, 'schema-url', 'catalog', 'mirror'],
  'json-schemas': [...CORE, 'schema-url', 'artifact-format', 'manifest', 'mirror', 'export'],
  'node-config': [...CORE, 'manifest', 'mirror', 'catalog'],
  archive: [...CORE, 'artifact-format', 'cache'],
  // registry: the shared retry / TLS / redaction helpers, until the one transport (item 3) has its own module.
  download: [...CORE, 'host', 'archive', 'cache', 'catalog', 'manifest', 'mirror', 'registry'],
  'artifact-read': [...CORE, 'archive', 'artifact-format', 'cache', 'catalog', 'download'],
  // layout: an imported artifact directory read in place as the same image store as an artifact file.
  'artifact-store': [...CORE, 'archive', 'artifact-format', 'artifact-read', 'catalog', 'content', 'layout'],
  signing: [...CORE, 'archive', 'artifact-format', 'artifact-read', 'catalog'],
  export: [
    ...CORE,
    'host',
    'archive',
    'artifact-format',
    'cache',
    'catalog',
    'content',
    'copy',
    'layout',
    'download',
    'manifest',
    'mirror',
    'registry',
    'signing',
  ],
  push: [
    ...CORE,
    'artifact-format',
    'artifact-store',
    'content',
    'copy',
    'layout',
    'registry',
    'manifest',
    'mirror',
    'catalog',
  ], // layout: --images-dir (an imported OCI layout)
  sync: [...CORE, 'host', 'artifact-format', 'cache', 'content', 'copy', 'export', 'manifest', 'mirror', 'registry'],
  // #12: the artifact as an OCI artifact (publish / pull); registries and layouts reach it as content stores.
  publish: [
    ...CORE,
    'archive',
    'artifact-format',
    'artifact-read',
    'artifact-store',
    'cache',
    'catalog',
    'content',
    'copy',
  ],
  serve: [...CORE, 'artifact-format', 'artifact-store', 'content', 'copy', 'registry', 'manifest', 'mirror', 'catalog'],
};
// The CLI and the public door sit on top: they may import anything (the CLI not the door, which re-exports it).
const TOP: Record<string, readonly string[]> = { cli: Object.keys(LAYERS), index: [...Object.keys(LAYERS), 'cli'] };

const SRC = resolve(dirname(fileURLToPath(import.meta.url)));

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// src/a/b.ts → "a"; src/errors.ts → "errors".
function moduleOf(file: string): string {
  const [first = '', ...rest] = relative(SRC, file).split('/');
  return rest.length > 0 ? first : first.replace(/\.(ts|js)$/, '');
}

// Relative specifiers of static imports and re-exports (`import type` too: a type import couples modules as well),
// side-effect imports and dynamic import().
function relativeImports(text: string): string[] {
  const found = [
    ...text.matchAll(
      /\bfrom\s+['"](\.\.?\/[^'"]+)['"]|\bimport\s*\(\s*['"](\.\.?\/[^'"]+)['"]|^\s*import\s+['"](\.\.?\/[^'"]+)['"]/gm,
    ),
  ];
  return found.map((m) => (m[1] ?? m[2] ?? m[3]) as string);
}

async function edges(): Promise<Edge[]> {
  const out: Edge[] = [];
  for (const file of await sourceFiles(SRC)) {
    for (const spec of relativeImports(await readFile(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      const from = moduleOf(file);
      const to = moduleOf(target);
      if (from !== to) out.push({ file: relative(SRC, file), spec, from, to });
    }
  }
  return out;
}

type Edge = { file: string; spec: string; from: string; to: string };

function violations(list: readonly Edge[]): string[] {
  const allowed: Record<string, readonly string[]> = { ...LAYERS, ...TOP };
  return list
    .filter((e) => !(allowed[e.from] ?? []).includes(e.to))
    .map((e) => `src/${e.file}: ${e.from} → ${e.to} ('${e.spec}')`);
}

describe('layering (which way imports go)', () => {
  it('the allowed imports form a DAG: no module may import one that may import it', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycle: string[] = [];
    const visit = (m: string, path: string[]): void => {
      if (state.get(m) === 'done') return;
      if (state.get(m) === 'visiting') return void cycle.push([...path, m].join(' → '));
      state.set(m, 'visiting');
      for (const d of LAYERS[m] ?? []) visit(d, [...path, m]);
      state.set(m, 'done');
    };
    for (const m of Object.keys(LAYERS)) visit(m, []);
    expect(cycle).toEqual([]);
  });

  it('every module of src/ has a place in the layers (a new folder must be placed)', async () => {
    const modules = new Set((await sourceFiles(SRC)).map(moduleOf));
    const unplaced = [...modules].filter((m) => !(m in LAYERS) && !(m in TOP));
    expect(unplaced, `add these to LAYERS in src/layering.test.ts, below what imports them`).toEqual([]);
  });

  it('no file imports a module its module may not import', async () => {
    expect(violations(await edges())).toEqual([]);
  });

  it('the rule bites: an upward import is found', () => {
    expect(
      relativeImports(
        "import type { KkManifest } from '../manifest/schema.js';\nexport { x } from './y.js';\nconst m = await import('../cli/main.js');",
      ),
    ).toEqual(['../manifest/schema.js', './y.js', '../cli/main.js']);
    const up = [
      { file: 'catalog/binaries.ts', spec: '../manifest/schema.js', from: 'catalog', to: 'manifest' },
      { file: 'signing/sign-artifact.ts', spec: '../export/files.js', from: 'signing', to: 'export' },
      { file: 'registry/client.ts', spec: '../cli/main.js', from: 'registry', to: 'cli' },
      { file: 'manifest/generate.ts', spec: '../catalog/index.js', from: 'manifest', to: 'catalog' },
    ];
    expect(violations(up)).toEqual([
      "src/catalog/binaries.ts: catalog → manifest ('../manifest/schema.js')",
      "src/signing/sign-artifact.ts: signing → export ('../export/files.js')",
      "src/registry/client.ts: registry → cli ('../cli/main.js')",
    ]);
  });
});
