import type { Document } from 'yaml';
import type { Issue } from '../errors.js';
import { checkDocument, parseYaml, readTextFile, type YamlSource } from '../util/yaml-doc.js';
import { salvageManifest } from './salvage.js';
import { manifestSchema, strictManifestSchema, type KkManifest } from './schema.js';

export type ParsedManifest = { file: string; manifest: KkManifest; source: YamlSource; doc: Document.Parsed };

// A manifest with schema errors, repaired so that `manifest validate` can still run every rule on it.
export type SalvagedManifest = ParsedManifest & { dropped: Map<string, number[]> };

export type ParseResult = { parsed?: ParsedManifest; salvaged?: SalvagedManifest; issues: Issue[] };

// Parse a kk Manifest; all problems become issues (unknown fields are warnings: kk ignores them).
export function parseManifestText(text: string, file: string): ParseResult {
  const { source, issues } = parseYaml(text, file);
  if (issues.some((i) => i.severity === 'error')) return { issues };
  if (source.docs.length !== 1) {
    const message = source.docs.length === 0 ? 'empty document: expected a KubeKey Manifest' : `expected one YAML document, found ${source.docs.length}`;
    return { issues: [...issues, { severity: 'error', code: 'SCHEMA', message, file, line: 1, col: 1 }] };
  }
  const doc = source.docs[0] as Document.Parsed;
  const strict = checkDocument(strictManifestSchema, doc, source);
  for (const i of strict.issues) {
    if (i.message.startsWith('unknown field')) issues.push({ ...i, severity: 'warning', code: 'UNKNOWN_FIELD', hint: 'kk ignores unknown fields; check the spelling' });
    else issues.push(i);
  }
  const salvage = (): ParseResult => {
    const s = salvageManifest(doc);
    return { issues, ...(s ? { salvaged: { file, manifest: s.manifest, dropped: s.dropped, source, doc } } : {}) };
  };
  if (issues.some((i) => i.severity === 'error')) return salvage();
  const loose = checkDocument(manifestSchema, doc, source);
  if (!loose.value) {
    issues.push(...loose.issues);
    return salvage();
  }
  return { parsed: { file, manifest: loose.value, source, doc }, issues };
}

export async function loadManifestFile(file: string): Promise<ParseResult> {
  return parseManifestText(await readTextFile(file, 'manifest'), file);
}
