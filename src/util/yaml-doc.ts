import { readFile, stat } from 'node:fs/promises';
import { isMap, isScalar, isSeq, Lexer, LineCounter, parseAllDocuments, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { KkoError, type Issue } from '../errors.js';
import { fsError } from './fs-errors.js';
import { cutText, quoteValue, someOf } from './safe-text.js';

// Inputs larger than this are refused before parsing: no manifest or catalog file is anywhere near it
// (the largest, catalog/checksums.json, is ~120 KB).
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
// The YAML parser keeps ~500 bytes per node, so the byte cap alone does not bound memory: a 1 MB flow list
// "[1,1,…]" costs ~600 MB. Texts with more lexer tokens than this are refused before a tree is built
// (~100 MB of parser state; the biggest catalog file has ~10k tokens).
export const MAX_YAML_TOKENS = 200_000;
// Aliases may expand to at most this many nodes (yaml's own default): a "billion laughs" bomb stops here.
export const MAX_ALIAS_COUNT = 100;

export type YamlSource = { file: string; text: string; lines: LineCounter; docs: Document.Parsed[] };

// Read a text file for parsing, refusing directories, huge files and binary content with a clear error.
export async function readTextFile(file: string, what = 'file', limit = MAX_DOCUMENT_BYTES): Promise<string> {
  const info = await stat(file).catch((err: unknown) => Promise.reject(fsError(`reading ${what}`, file, err)));
  if (info.isDirectory())
    throw new KkoError('INVALID_INPUT', `reading ${what} ${file}: is a directory`, {
      hint: 'pass a file, not a folder',
    });
  if (info.size > limit) {
    throw new KkoError(
      'INVALID_INPUT',
      `reading ${what} ${file}: ${info.size} bytes is larger than the ${limit}-byte limit`,
    );
  }
  const bytes = await readFile(file).catch((err: unknown) => Promise.reject(fsError(`reading ${what}`, file, err)));
  return decodeText(bytes, file, what);
}

// UTF-8 text without NUL bytes; anything else is "binary" and refused.
export function decodeText(bytes: Uint8Array, file: string, what = 'file'): string {
  if (bytes.includes(0))
    throw new KkoError('INVALID_INPUT', `reading ${what} ${file}: binary content (NUL bytes), expected YAML text`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `reading ${what} ${file}: not valid UTF-8 text`, { cause: err });
  }
}

// Parse all YAML documents of a text, keeping positions; syntax problems, texts too large to parse safely and
// alias bombs become issues (never throws). This is the one YAML parse of user input: every loader comes here.
export function parseYaml(text: string, file: string): { source: YamlSource; issues: Issue[] } {
  const lines = new LineCounter();
  if (tooManyTokens(text)) {
    const message = `more than ${MAX_YAML_TOKENS} YAML tokens: refusing to parse a document this large`;
    return {
      source: { file, text, lines, docs: [] },
      issues: [
        {
          severity: 'error',
          code: 'YAML_TOO_LARGE',
          message,
          file,
          line: 1,
          col: 1,
          hint: 'a manifest or policy file is a few KB; check that this is the right file',
        },
      ],
    };
  }
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const issues: Issue[] = [];
  for (const doc of list) {
    for (const e of [...doc.errors, ...doc.warnings]) {
      const pos = e.linePos?.[0];
      issues.push({
        severity: doc.errors.includes(e) ? 'error' : 'warning',
        code: 'YAML_SYNTAX',
        message: e.message.split('\n')[0] ?? e.message,
        file,
        ...(pos ? { line: pos.line, col: pos.col } : {}),
      });
    }
    if (doc.errors.length === 0) issues.push(...aliasIssues(doc, lines, file));
  }
  return {
    source: { file, text, lines, docs: list.filter((d) => d.contents !== null || d.errors.length > 0) },
    issues,
  };
}

function tooManyTokens(text: string): boolean {
  let n = 0;
  for (const _token of new Lexer().lex(text)) if (++n > MAX_YAML_TOKENS) return true;
  return false;
}

// The plain value of a document, converted once (checkDocument and loaders share it).
const values = new WeakMap<Document.Parsed, unknown>();
export function documentValue(doc: Document.Parsed): unknown {
  if (!values.has(doc)) values.set(doc, doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }));
  return values.get(doc);
}

// yaml throws a ReferenceError when aliases expand past maxAliasCount; that is bad input, shown at the first alias.
function aliasIssues(doc: Document.Parsed, lines: LineCounter, file: string): Issue[] {
  try {
    documentValue(doc);
    return [];
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const message = /excessive alias count/i.test(err.message)
      ? `aliases expand to more than ${MAX_ALIAS_COUNT} nodes (a "billion laughs" alias bomb?)`
      : err.message;
    return [
      {
        severity: 'error',
        code: 'YAML_ALIASES',
        message,
        file,
        ...lines.linePos(offset),
        hint: 'write the values out instead of nesting anchors and aliases',
      },
    ];
  }
}

// "spec.images[3]" from a path array.
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? cutText(String(p)) : `.${cutText(String(p))}`;
  }
  return out;
}

// The 1-based line/col of the node at `path` (or of its nearest existing parent).
// With `atKey`, a map entry's position is its key's (where an unknown field is best shown).
export function positionOf(
  doc: Document.Parsed,
  lines: LineCounter,
  path: readonly PropertyKey[],
  atKey = false,
): { line: number; col: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n), atKey && n === path.length);
    const offset = node?.range?.[0];
    if (offset !== undefined) return lines.linePos(offset);
  }
  return undefined;
}

function nodeAt(doc: Document.Parsed, path: readonly PropertyKey[], atKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  for (const [i, key] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (isScalar(it.key) ? it.key.value : it.key) === key);
      if (!pair) return undefined;
      node = atKey && i === path.length - 1 ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
    } else {
      return undefined;
    }
  }
  return node as Node | undefined;
}

// Validate one document against a zod schema; every problem becomes an issue with a position.
export function checkDocument<T extends z.ZodType>(
  schema: T,
  doc: Document.Parsed,
  source: YamlSource,
): { value?: z.infer<T>; issues: Issue[] } {
  // reportInput: without it zod drops `input` from issues, and a wrong type would read as a missing field.
  const result = schema.safeParse(documentValue(doc), { reportInput: true });
  if (result.success) return { value: result.data, issues: [] };
  const issues = result.error.issues.map((zi): Issue => {
    // An unknown key is reported at the key itself, not at the map that holds it.
    const unknownKey = zi.code === 'unrecognized_keys' && zi.keys.length === 1;
    const path = unknownKey ? [...(zi.path as PropertyKey[]), zi.keys[0] as string] : (zi.path as PropertyKey[]);
    const pos = positionOf(doc, source.lines, path, unknownKey);
    return {
      severity: 'error',
      code: 'SCHEMA',
      message: describeZodIssue(zi),
      file: source.file,
      path: formatPath(path),
      ...pos,
    };
  });
  return { issues };
}

const SHOWN_KEYS = 10;

export function describeZodIssue(zi: z.core.$ZodIssue): string {
  if (zi.code === 'unrecognized_keys') {
    // Keys are the document's: each quoted and cut, and a map of thousands of them named by its first few.
    return `unknown field${zi.keys.length > 1 ? 's' : ''} ${someOf(zi.keys, SHOWN_KEYS, (k) => quoteValue(k))}`;
  }
  if (zi.code === 'invalid_type' && zi.input === undefined)
    return `required field is missing (expected ${zi.expected})`;
  return zi.message;
}

// Issues sorted for display: file, line, col, then message (stable output for tests and users).
export function sortIssues(issues: Issue[]): Issue[] {
  return [...issues].sort(
    (a, b) =>
      (a.file ?? '').localeCompare(b.file ?? '') ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.col ?? 0) - (b.col ?? 0) ||
      a.message.localeCompare(b.message),
  );
}
