import type { Document } from 'yaml';
import type { Issue } from '../errors.js';
import { checkDocument, parseYaml, positionOf, readTextFile, type YamlSource } from '../util/yaml-doc.js';
import { cutText, quoteValue } from '../util/safe-text.js';
import { withVPrefix } from '../util/version.js';
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
    const message =
      source.docs.length === 0
        ? 'empty document: expected a KubeKey Manifest'
        : `expected one YAML document, found ${source.docs.length}`;
    return { issues: [...issues, { severity: 'error', code: 'SCHEMA', message, file, line: 1, col: 1 }] };
  }
  const doc = source.docs[0] as Document.Parsed;
  const strict = checkDocument(strictManifestSchema, doc, source);
  for (const i of strict.issues) {
    if (i.message.startsWith('unknown field'))
      issues.push({
        ...i,
        severity: 'warning',
        code: 'UNKNOWN_FIELD',
        hint: 'kk ignores unknown fields; check the spelling',
      });
    else issues.push(i);
  }
  const salvage = (): ParseResult => {
    const s = salvageManifest(doc);
    return {
      issues,
      ...(s
        ? {
            salvaged: {
              file,
              manifest: withVPrefixes(s.manifest, { file, doc, source }, issues),
              dropped: s.dropped,
              source,
              doc,
            },
          }
        : {}),
    };
  };
  if (issues.some((i) => i.severity === 'error')) return salvage();
  const loose = checkDocument(manifestSchema, doc, source);
  if (!loose.value) {
    issues.push(...loose.issues);
    return salvage();
  }
  return { parsed: { file, manifest: withVPrefixes(loose.value, { file, doc, source }, issues), source, doc }, issues };
}

// "1.28.12" → "v1.28.12", as kk reads a Cluster's version (loader.go normalizedBuildVersion). kk's own
// artifact export uses the manifest's string verbatim in URLs and checksum keys, so this is worth a note.
function withVPrefixes(
  manifest: KkManifest,
  at: { file: string; doc: Document.Parsed; source: YamlSource },
  issues: Issue[],
): KkManifest {
  const dists = manifest.spec.kubernetesDistributions;
  if (!dists?.some((d) => withVPrefix(d.version) !== d.version)) return manifest;
  dists.forEach((d, i) => {
    const v = withVPrefix(d.version);
    if (v === d.version) return;
    const pos = positionOf(at.doc, at.source.lines, ['spec', 'kubernetesDistributions', i, 'version']);
    issues.push({
      severity: 'info',
      code: 'VERSION_PREFIX',
      message: `Kubernetes ${cutText(d.version)} read as ${cutText(v)}`,
      file: at.file,
      path: `spec.kubernetesDistributions[${i}].version`,
      ...pos,
      hint: `write ${cutText(v)}: kk artifact export would use ${quoteValue(d.version)} verbatim in download URLs`,
    });
  });
  return {
    ...manifest,
    spec: { ...manifest.spec, kubernetesDistributions: dists.map((d) => ({ ...d, version: withVPrefix(d.version) })) },
  };
}

export async function loadManifestFile(file: string): Promise<ParseResult> {
  return parseManifestText(await readTextFile(file, 'manifest'), file);
}
