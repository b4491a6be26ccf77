import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { parseImageSignatures } from './image-signatures.js';
import { parseHaveList } from './have.js';
import { inventoryBytes, parseInventory, parseJsonDocument, upstreamDigestMap, type Inventory } from './inventory.js';

const HEX = 'ab'.repeat(32);
const D1 = `sha256:${'11'.repeat(32)}`;
const D2 = `sha256:${'22'.repeat(32)}`;

const inventory = (): Inventory => ({
  apiVersion: 'kko.io/v1alpha1',
  kind: 'ArtifactInventory',
  generator: 'kko 0.1.0',
  zone: 'default',
  arches: ['amd64'],
  images: [
    {
      ref: 'docker.io/library/redis:7',
      arch: 'amd64',
      refName: 'docker.io/library/redis:7-amd64',
      class: 'app',
      digest: D1,
      size: 10,
      platform: { architecture: 'amd64', os: 'linux' },
      source: { ref: 'docker.io/library/redis:7', via: 'upstream', registry: 'docker.io' },
      upstream: { manifestDigest: D2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' },
    },
  ],
  binaries: [{ id: 'helm', path: 'helm/v3.14.3/amd64/helm', sha256: HEX, size: 3 }],
  isos: [],
  documents: [{ path: 'kko/manifest.json', sha256: HEX, size: 2 }],
  credentialsRemoved: [],
});

function errorOf(bytes: string): KkoError {
  try {
    parseInventory(Buffer.from(bytes));
  } catch (err) {
    if (err instanceof KkoError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('kko/inventory.json through one schema', () => {
  it('writes 2-space JSON in the writer’s key order, and reads back what it wrote', () => {
    const inv = inventory();
    const bytes = inventoryBytes(inv);
    expect(bytes.toString()).toBe(`${JSON.stringify(inv, null, 2)}\n`);
    expect(parseInventory(bytes)).toEqual(inv);
  });

  it('refuses to write an inventory its readers would refuse', () => {
    const inv = inventory();
    (inv.binaries as Array<{ sha256: string }>)[0]!.sha256 = 'nothex';
    expect(() => inventoryBytes(inv)).toThrow(
      expect.objectContaining({ code: 'INTERNAL', message: expect.stringContaining('binaries[0].sha256') }),
    );
  });

  it.each([
    ['{', /^kko\/inventory\.json: not JSON/],
    ['[]', /^kko\/inventory\.json: .*expected object/],
    [JSON.stringify({ ...inventory(), apiVersion: 'v9' }), /^kko\/inventory\.json: apiVersion: /],
    [JSON.stringify({ ...inventory(), images: {} }), /^kko\/inventory\.json: images: .*expected array/],
    [
      JSON.stringify({ ...inventory(), images: [{ refName: 'x' }] }),
      /^kko\/inventory\.json: images\[0\]\.digest: required field is missing/,
    ],
    [
      JSON.stringify({ ...inventory(), images: [{ refName: 7, digest: D1 }] }),
      /^kko\/inventory\.json: images\[0\]\.refName: .*expected string/,
    ],
    [
      JSON.stringify({ ...inventory(), binaries: [{ path: 'a', sha256: 'x' }] }),
      /^kko\/inventory\.json: binaries\[0\]\.sha256: expected a sha256 of 64 hex/,
    ],
    [
      JSON.stringify({ ...inventory(), documents: [{ path: 'a', sha256: HEX, size: -1 }] }),
      /^kko\/inventory\.json: documents\[0\]\.size: /,
    ],
    [JSON.stringify({ ...inventory(), credentialsRemoved: [1] }), /^kko\/inventory\.json: credentialsRemoved\[0\]: /],
    [
      JSON.stringify({
        ...inventory(),
        referrers: [{ ref: 'r', subject: D2, digest: D1, mediaType: 'm', size: 1, found: 'guess', blobs: [] }],
      }),
      /^kko\/inventory\.json: referrers\[0\]\.found: /,
    ],
  ])('a bad inventory fails naming the field: %s', (text, message) => {
    const err = errorOf(text);
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(message);
  });

  it('keeps fields it does not know (a newer writer), and takes the optional delta / signature / referrer fields', () => {
    const inv = {
      ...inventory(),
      future: { x: 1 },
      delta: { base: { inventorySha256: HEX }, omitted: { blobs: [{ digest: D1, size: 3 }], files: [] } },
      signatures: [{ path: 'kko/sigs/a.sig', format: 'cosign' }],
      referrers: [
        {
          ref: 'docker.io/library/redis:7',
          subject: D2,
          digest: D1,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: 300,
          found: 'tag-schema',
          blobs: [],
        },
      ],
    };
    expect(parseInventory(Buffer.from(JSON.stringify(inv)))).toEqual(inv);
  });

  it('upstreamDigestMap: upstream manifest digest → the converted digest stored in images/', () => {
    expect([...upstreamDigestMap(inventory())]).toEqual([[D2, D1]]);
  });
});

describe('imageSignatures rows (#12 item 2) in the schema', () => {
  const sigRow = {
    ref: 'docker.io/library/redis:7',
    digest: D2,
    tag: `sha256-${'22'.repeat(32)}.sig`,
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D1, size: 300 },
    blobs: [{ digest: D1, size: 2 }],
  };
  const withRows = (rows: unknown): Buffer =>
    Buffer.from(JSON.stringify({ ...inventory(), imageSignatures: rows }, null, 2));

  it('a signed row, a per-arch one (arch) and an unsigned one (--allow-unsigned) read through both parsers alike', () => {
    const perArch = { ...sigRow, arch: 'arm64', digest: D1, tag: `sha256-${'11'.repeat(32)}.sig` };
    const rows = [sigRow, perArch, { ref: 'docker.io/library/nginx:1', digest: D1, tag: 'x.sig' }];
    expect(parseInventory(withRows(rows)).imageSignatures).toEqual(rows);
    expect(parseImageSignatures(withRows(rows))).toEqual(rows);
    expect(() => inventoryBytes({ ...inventory(), imageSignatures: rows })).not.toThrow();
  });

  it.each([
    ['a bad digest', [{ ...sigRow, digest: 'sha256:xyz' }], 'imageSignatures[0].digest'],
    ['an arch that is not text', [{ ...sigRow, arch: 64 }], 'imageSignatures[0].arch'],
    ['a manifest without its blobs', [{ ...sigRow, blobs: undefined }], 'imageSignatures[0].blobs'],
    ['a blob without a size', [{ ...sigRow, blobs: [{ digest: D1 }] }], 'imageSignatures[0].blobs[0].size'],
    ['not a list', { a: 1 }, 'imageSignatures'],
  ])('%s is refused naming the field', (_why, rows, field) => {
    for (const parse of [parseInventory, parseImageSignatures] as const) {
      try {
        parse(withRows(rows));
        expect.unreachable();
      } catch (err) {
        expect((err as KkoError).code).toBe('INVALID_INPUT');
        expect((err as KkoError).message).toContain(`kko/inventory.json: ${field}`);
      }
    }
  });
});

// The documents are the artifact's (or a have-list from elsewhere): a parse error quotes V8's snippet of them
// escaped, and an unknown key is quoted and cut, so a hostile document cannot drive the terminal or flood it.
describe('hostile JSON documents', () => {
  const CTRL = '\u001b]0;pwned\u0007\r\n\u009b';
  const messageOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return (err as Error).message;
    }
    return 'ok';
  };
  const clean = (m: string): void => {
    expect(m.length).toBeLessThan(500);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(m).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  };

  it.each([
    ['control characters', `${CTRL}{}`],
    ['a 1 MB document', `x${'y'.repeat(1024 * 1024)}`],
  ])('not JSON, with %s, names the document', (_what, text) => {
    const inv = messageOf(() => parseJsonDocument(Buffer.from(text), 'kko/inventory.json'));
    expect(inv).toMatch(/^kko\/inventory\.json: not JSON: /);
    clean(inv);
    const have = messageOf(() => parseHaveList(text, 'have.json'));
    expect(have).toMatch(/^have\.json: not JSON: /);
    clean(have);
  });

  it.each([
    ['control characters', `k${CTRL}`],
    ['a 1 MB key', `k${'y'.repeat(1024 * 1024)}`],
  ])('a bad value under a key with %s names the field, the key cut and escaped', (_what, key) => {
    const have = {
      apiVersion: 'kko.io/v1alpha1',
      kind: 'ArtifactHave',
      base: { artifact: 'a' },
      refs: { [key]: 5 },
      blobs: [],
      files: [],
    };
    const m = messageOf(() => parseHaveList(JSON.stringify(have), 'have.json'));
    expect(m).toMatch(/^have\.json: refs\.k.*: Invalid input: expected string/);
    clean(m);
  });
});
