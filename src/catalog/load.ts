import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { KkoError, ValidationError, type Issue } from '../errors.js';
import { embeddedFile } from '../util/embedded.js';
import { fsError } from '../util/fs-errors.js';
import { checkDocument, parseYaml, readTextFile, sortIssues } from '../util/yaml-doc.js';
import { Catalog } from './catalog.js';
import {
  checksumsSchema,
  componentSchema,
  imageRulesSchema,
  profileSchema,
  type ComponentDescriptor,
  type KubeKeyProfile,
} from './schema.js';

// The catalog shipped with kko (catalog/ at the package root), next to dist/ and src/.
export const BUILTIN_CATALOG_DIR = fileURLToPath(new URL('../../catalog/', import.meta.url));

export type LoadCatalogOptions = {
  // Extra add-on descriptor folders (--catalog-dir, KKO_CATALOG_DIR), loaded after the built-in ones.
  extraDirs?: readonly string[];
  builtinDir?: string;
};

// dist/catalog.bundle.json (scripts/bundle-catalog.js): the shipped files pre-parsed (YAML is most of start-up) and
// already checked by the schema, with its defaults applied.
const BUNDLE = fileURLToPath(new URL('../catalog.bundle.json', import.meta.url));
// The compiled schema (dist/catalog/schema.js; from dist/bundle/ the same path): the bundle names the sha256 of the
// one that checked it.
const SCHEMA_JS = new URL('../catalog/schema.js', import.meta.url);

type Bundle = { version: number; schema: string; files: Record<string, { size: number; sha256: string; data: unknown }> };
// `embedded`: the bundle is the catalog itself (the standalone executable has no catalog/ folder on disk).
// `checked`: its data was checked by this schema, so it is taken as it is (zod's checks were half of start-up).
type BundleSource = { bundle: Bundle; embedded: boolean; checked: boolean };

// The sha256 of the compiled schema module, or undefined where there is none on disk (running from src/ or inside
// the standalone executable).
export async function catalogSchemaDigest(): Promise<string | undefined> {
  const bytes = await readFile(SCHEMA_JS).catch(() => undefined);
  return bytes && createHash('sha256').update(bytes).digest('hex');
}

async function readBundle(): Promise<BundleSource | undefined> {
  const embedded = embeddedFile('dist/catalog.bundle.json');
  try {
    const b = JSON.parse(embedded ? Buffer.from(embedded).toString('utf8') : await readFile(BUNDLE, 'utf8')) as Bundle;
    if (b.version !== 3) return undefined;
    // The executable's bundle was built with the code it carries; on disk, tsc may have changed the schema since.
    const checked = embedded !== undefined || b.schema === (await catalogSchemaDigest());
    return { bundle: b, embedded: embedded !== undefined, checked };
  } catch {
    return undefined;
  }
}

// The pre-parsed data of a shipped file, when its bytes are still the ones the bundle was built from
// (hashing ~300 KB is far cheaper than parsing the YAML); an embedded bundle is taken as it is.
async function fromBundle(source: BundleSource | undefined, dir: string, file: string): Promise<unknown> {
  const entry = source?.bundle.files[relative(dir, file)];
  if (!entry || source?.embedded) return entry?.data;
  const bytes = await readFile(file).catch(() => undefined);
  return bytes && bytes.length === entry.size && createHash('sha256').update(bytes).digest('hex') === entry.sha256 ? entry.data : undefined;
}

// The shipped files of one catalog folder: listed from an embedded bundle, else from the disk.
async function shippedFiles(source: BundleSource | undefined, dir: string, sub: string): Promise<string[]> {
  if (!source?.embedded) return yamlFiles(join(dir, sub));
  const names = Object.keys(source.bundle.files).filter((k) => k.startsWith(`${sub}/`) && !k.includes('/', sub.length + 1));
  return names.sort().map((k) => join(dir, k));
}

// Load and schema-check the whole catalog; every bad file is reported with file:line:col.
export async function loadCatalog(options: LoadCatalogOptions = {}): Promise<Catalog> {
  return loadChecked(options);
}

// scripts/bundle-catalog.js: the shipped catalog in `dir`, checked, and each file's checked data by its path.
export async function checkShippedCatalog(dir: string): Promise<Map<string, unknown>> {
  const checked = new Map<string, unknown>();
  await loadChecked({ builtinDir: dir }, (file, data) => checked.set(file, data));
  return checked;
}

async function loadChecked(options: LoadCatalogOptions, onShipped?: (file: string, data: unknown) => void): Promise<Catalog> {
  const dir = options.builtinDir ?? BUILTIN_CATALOG_DIR;
  const bundle = options.builtinDir === undefined ? await readBundle() : undefined;
  const issues: Issue[] = [];
  // Bundled data skips YAML parsing, and the schema too when this schema checked it.
  const loadOne = async <T extends z.ZodType>(file: string, schema: T): Promise<z.infer<T> | undefined> => {
    const data = await fromBundle(bundle, dir, file);
    if (data !== undefined && bundle?.checked) return data as z.infer<T>;
    const fast = schema.safeParse(data);
    const value = fast.success ? fast.data : await loadFile(file, schema, issues);
    if (value !== undefined) onShipped?.(file, value);
    return value;
  };
  const checksums = await loadOne(join(dir, 'checksums.json'), checksumsSchema);
  const rules = await loadOne(join(dir, 'images.yaml'), imageRulesSchema);
  const profiles: KubeKeyProfile[] = [];
  for (const file of await shippedFiles(bundle, dir, 'kubekey')) {
    const p = await loadOne(file, profileSchema);
    if (p) profiles.push(p);
  }
  const components = new Map<string, { descriptor: ComponentDescriptor; file: string }>();
  const addonDirs = [join(dir, 'addons'), ...(options.extraDirs ?? [])];
  for (const [i, addonDir] of addonDirs.entries()) {
    const files = i === 0 ? await shippedFiles(bundle, dir, 'addons') : await yamlFiles(addonDir, true);
    for (const file of files) {
      const c = i === 0 ? await loadOne(file, componentSchema) : await loadFile(file, componentSchema, issues);
      if (!c) continue;
      const prior = components.get(c.metadata.name);
      if (prior && i === 0) {
        issues.push({ severity: 'error', code: 'DUPLICATE_COMPONENT', message: `component "${c.metadata.name}" is also defined in ${prior.file}`, file });
      }
      // A user descriptor with a built-in's name replaces it: that is how users patch the shipped data.
      components.set(c.metadata.name, { descriptor: c, file });
    }
  }
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length > 0 || !checksums || !rules) {
    throw new ValidationError('INVALID_CATALOG', `the catalog has ${errors.length} error(s)`, sortIssues(issues));
  }
  if (profiles.length === 0) throw new KkoError('INVALID_CATALOG', `no KubeKey profiles found in ${join(dir, 'kubekey')}`);
  return new Catalog({ checksums, rules, profiles, components: new Map([...components].map(([k, v]) => [k, v.descriptor])) });
}

async function yamlFiles(dir: string, userSupplied = false): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!userSupplied && code === 'ENOENT') return [];
    if (code === 'ENOENT') throw new KkoError('FILE_NOT_FOUND', `reading catalog dir ${dir}: no such directory`, { cause: err });
    if (code === 'ENOTDIR') throw new KkoError('INVALID_INPUT', `reading catalog dir ${dir}: not a directory`, { cause: err, hint: '--catalog-dir takes a folder of *.yaml component descriptors' });
    throw fsError('reading catalog dir', dir, err);
  }
  return names.filter((n) => /\.(ya?ml|json)$/.test(n)).sort().map((n) => join(dir, n));
}

// Parse one catalog file (YAML or JSON; JSON is YAML) and check it against its schema.
async function loadFile<T extends z.ZodType>(file: string, schema: T, issues: Issue[]): Promise<z.infer<T> | undefined> {
  const text = await readTextFile(file, 'catalog file');
  // JSON (the checksums) parses far faster natively; the YAML path below is only needed to place errors.
  if (file.endsWith('.json')) {
    const fast = schema.safeParse(parseJsonOrUndefined(text));
    if (fast.success) return fast.data;
  }
  const { source, issues: syntax } = parseYaml(text, file);
  issues.push(...syntax);
  if (syntax.some((i) => i.severity === 'error')) return undefined;
  const doc = source.docs[0];
  if (!doc || source.docs.length !== 1) {
    issues.push({ severity: 'error', code: 'SCHEMA', message: 'expected exactly one YAML document', file });
    return undefined;
  }
  const checked = checkDocument(schema, doc, source);
  issues.push(...checked.issues);
  return checked.value;
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
