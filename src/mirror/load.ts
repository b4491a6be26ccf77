import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Document } from 'yaml';
import { ValidationError, type Issue } from '../errors.js';
import { embeddedFile } from '../util/embedded.js';
import { quoteValue } from '../util/safe-text.js';
import {
  checkDocument,
  decodeText,
  formatPath,
  parseYaml,
  positionOf,
  readTextFile,
  sortIssues,
  type YamlSource,
} from '../util/yaml-doc.js';
import {
  mirrorPolicySchema,
  type DownloadRule,
  type MirrorPolicyFile,
  type RegistryRule,
  type RuleOrigin,
  type Zone,
} from './schema.js';

// The built-in zone files shipped with kko (catalog/zones/ at the package root).
export const BUILTIN_ZONES_DIR = fileURLToPath(new URL('../../catalog/zones/', import.meta.url));

// One MirrorPolicy file after schema → normalize → rules.
export type LoadedPolicyFile = {
  file: string;
  zone?: Zone;
  blockUpstream: boolean;
  registries: RegistryRule[];
  downloads: DownloadRule[];
};

// Docker Hub's other names; references are normalised to docker.io by parseReference, so prefixes are too.
const DOCKER_HUB_ALIASES = ['index.docker.io', 'registry-1.docker.io'];

// Load and check a MirrorPolicy file; every problem is reported with file:line:col (INVALID_MIRROR_CONFIG).
export async function loadPolicyFile(file: string, origin: RuleOrigin): Promise<LoadedPolicyFile> {
  return parsePolicy(await readTextFile(file, 'mirror config'), file, origin);
}

function parsePolicy(text: string, file: string, origin: RuleOrigin): LoadedPolicyFile {
  const { source, issues } = parseYaml(text, file);
  const value = issues.some((i) => i.severity === 'error') ? undefined : checkSingleDocument(source, issues);
  if (value && source.docs[0]) issues.push(...ruleIssues(value, source.docs[0], source));
  const errors = issues.filter((i) => i.severity === 'error');
  if (!value || errors.length > 0) {
    throw new ValidationError(
      'INVALID_MIRROR_CONFIG',
      `mirror config ${file} has ${errors.length} error(s)`,
      sortIssues(issues),
    );
  }
  return normalize(file, value, origin);
}

// Load the built-in rules of a zone (catalog/zones/<zone>.yaml; embedded in the standalone executable).
export async function loadZonePolicy(zone: Zone, dir: string = BUILTIN_ZONES_DIR): Promise<LoadedPolicyFile> {
  const file = join(dir, `${zone}.yaml`);
  const embedded = dir === BUILTIN_ZONES_DIR ? embeddedFile(`catalog/zones/${zone}.yaml`) : undefined;
  return embedded
    ? parsePolicy(decodeText(embedded, file, 'mirror config'), file, 'zone')
    : loadPolicyFile(file, 'zone');
}

function checkSingleDocument(source: YamlSource, issues: Issue[]): MirrorPolicyFile | undefined {
  const doc = source.docs[0];
  if (!doc || source.docs.length !== 1) {
    issues.push({
      severity: 'error',
      code: 'SCHEMA',
      message: 'expected exactly one YAML document (a MirrorPolicy)',
      file: source.file,
    });
    return undefined;
  }
  const checked = checkDocument(mirrorPolicySchema, doc, source);
  issues.push(...checked.issues);
  return checked.value;
}

// "index.docker.io/x" → "docker.io/x", so a prefix matches what parseReference produces.
export function normalizeRegistryPrefix(prefix: string): string {
  const slash = prefix.indexOf('/');
  const host = slash < 0 ? prefix : prefix.slice(0, slash);
  return DOCKER_HUB_ALIASES.includes(host) ? `docker.io${prefix.slice(host.length)}` : prefix;
}

function normalize(file: string, value: MirrorPolicyFile, origin: RuleOrigin): LoadedPolicyFile {
  const out: LoadedPolicyFile = {
    file,
    blockUpstream: value.blockUpstream,
    registries: value.registries.map((r) => ({ ...r, prefix: normalizeRegistryPrefix(r.prefix), origin })),
    downloads: value.downloads.map((d) => ({ ...d, origin })),
  };
  if (value.zone !== undefined) out.zone = value.zone;
  return out;
}

// Cross-field rules the schema cannot express: one rule per prefix, and every rule leaves a source to try.
function ruleIssues(value: MirrorPolicyFile, doc: Document.Parsed, source: YamlSource): Issue[] {
  const issues: Issue[] = [];
  const at = (path: (string | number)[], code: string, message: string): void => {
    issues.push({
      severity: 'error',
      code,
      message,
      file: source.file,
      path: formatPath(path),
      ...positionOf(doc, source.lines, path),
    });
  };
  const lists = [
    ['registries', value.registries.map((r) => normalizeRegistryPrefix(r.prefix))],
    ['downloads', value.downloads.map((d) => d.prefix)],
  ] as const;
  for (const [key, prefixes] of lists) {
    prefixes.forEach((prefix, i) => {
      const first = prefixes.indexOf(prefix);
      if (first !== i)
        at(
          [key, i, 'prefix'],
          'DUPLICATE_PREFIX',
          `prefix ${quoteValue(prefix, 200)} is already used by ${key}[${first}]`,
        );
    });
  }
  const rules = [
    ...value.registries.map((r, i) => ['registries', i, r] as const),
    ...value.downloads.map((d, i) => ['downloads', i, d] as const),
  ];
  for (const [key, i, rule] of rules) {
    if (!rule.upstream && rule.mirrors.length === 0)
      at([key, i, 'upstream'], 'NO_SOURCE', 'upstream: false with no mirrors leaves nothing to try');
  }
  value.downloads.forEach((d, i) =>
    d.mirrors.forEach((m, j) => {
      // "https://a/" + "x" → "http://mx" is never meant: both ends of a rewrite end in "/" or neither does.
      if (d.prefix.endsWith('/') !== m.location.endsWith('/')) {
        at(
          ['downloads', i, 'mirrors', j, 'location'],
          'SLASH_MISMATCH',
          `location and prefix ${quoteValue(d.prefix, 200)} must both end in "/" or both not`,
        );
      }
    }),
  );
  return issues;
}
