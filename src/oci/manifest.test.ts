import { describe, expect, it } from 'vitest';
import { parseConfigPlatform } from './config.js';
import { parseManifestJson, selectManifests } from './manifest.js';
import { MediaType, MANIFEST_ACCEPT } from './media-types.js';
import { hasControl } from '../util/safe-text.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

const D = (n: string) => `sha256:${n.repeat(64)}`;
const enc = (o: unknown) => Buffer.from(JSON.stringify(o));
const image = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_MANIFEST,
  config: { mediaType: MediaType.OCI_CONFIG, digest: D('a'), size: 10 },
  layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: D('b'), size: 20 }],
};
const index = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_INDEX,
  manifests: [
    { mediaType: MediaType.OCI_MANIFEST, digest: D('c'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    {
      mediaType: MediaType.OCI_MANIFEST,
      digest: D('d'),
      size: 1,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
    { mediaType: MediaType.OCI_MANIFEST, digest: D('e'), size: 1 },
  ],
};

describe('parseManifestJson', () => {
  it('reads an OCI image manifest and an index', () => {
    expect(parseManifestJson(enc(image))).toMatchObject({ kind: 'image', mediaType: MediaType.OCI_MANIFEST });
    expect(parseManifestJson(enc(index))).toMatchObject({ kind: 'index', mediaType: MediaType.OCI_INDEX });
  });

  it('falls back to Content-Type, then to the shape, when the body has no mediaType', () => {
    const { mediaType: _m, ...bare } = image;
    expect(parseManifestJson(enc(bare), MediaType.DOCKER_MANIFEST).mediaType).toBe(MediaType.DOCKER_MANIFEST);
    expect(parseManifestJson(enc(bare)).mediaType).toBe(MediaType.OCI_MANIFEST);
    const { mediaType: _i, ...bareIndex } = index;
    expect(parseManifestJson(enc(bareIndex), 'application/json').kind).toBe('index');
  });

  it.each([
    ['not JSON', Buffer.from('{')],
    ['schema1', enc({ schemaVersion: 1, name: 'x' })],
    ['unknown mediaType', enc({ ...image, mediaType: 'application/vnd.example+json' })],
    ['bad digest', enc({ ...image, config: { ...image.config, digest: 'md5:00' } })],
    ['negative size', enc({ ...image, layers: [{ ...image.layers[0], size: -1 }] })],
    ['layers not a list', enc({ ...image, layers: {} })],
    [
      'platform without os',
      enc({ ...index, manifests: [{ ...index.manifests[0], platform: { architecture: 'amd64' } }] }),
    ],
    ['array top level', enc([image])],
    ['no shape', enc({ schemaVersion: 2 })],
  ])('rejects %s with INVALID_IMAGE_MANIFEST', (_name, bytes) => {
    expect(() => parseManifestJson(bytes)).toThrow(expect.objectContaining({ code: 'INVALID_IMAGE_MANIFEST' }));
  });

  // A hostile registry's manifest: the field it puts in the error is cut and escaped, whatever its size or content.
  it.each([
    ['a 1 MB digest with control characters', `\u001b]0;owned\u0007\u009b2J${'a'.repeat(1 << 20)}`],
    ['a digest object', { nested: 'x'.repeat(1 << 20) }],
    ['a 1 MB mediaType', `application/\u001b[2J${'x'.repeat(1 << 20)}`],
  ])('names %s in a bounded, escaped error', (what, value) => {
    const doc = what.includes('mediaType')
      ? { ...image, mediaType: value }
      : { ...image, layers: [{ ...image.layers[0], digest: value }] };
    let message = '';
    try {
      parseManifestJson(enc(doc));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(
      what.includes('mediaType') ? /unsupported mediaType "application\// : /layers\[0\]\.digest/,
    );
    expect(message.length).toBeLessThan(300);
    expect(hasControl(message)).toBe(false);
    if (typeof value === 'string') expect(message).toContain(`(${value.length} characters)`);
    else expect(message).toContain('got an object');
  });

  it('selects platform entries (arm64 ≡ arm64/v8; entries without a platform never match)', () => {
    const parsed = parseManifestJson(enc(index));
    if (parsed.kind !== 'index') throw new Error('index expected');
    expect(selectManifests(parsed.manifest, { os: 'linux', architecture: 'arm64' }).map((d) => d.digest)).toEqual([
      D('d'),
    ]);
    expect(selectManifests(parsed.manifest, { os: 'linux', architecture: 's390x' })).toEqual([]);
  });

  it('sends every manifest type in Accept', () => {
    for (const t of [
      MediaType.OCI_INDEX,
      MediaType.OCI_MANIFEST,
      MediaType.DOCKER_MANIFEST_LIST,
      MediaType.DOCKER_MANIFEST,
    ])
      expect(MANIFEST_ACCEPT).toContain(t);
  });
});

describe('parseConfigPlatform', () => {
  it('reads architecture, os and variant', () => {
    expect(parseConfigPlatform(enc({ architecture: 'arm64', os: 'linux', variant: 'v8', rootfs: {} }))).toEqual({
      architecture: 'arm64',
      os: 'linux',
      variant: 'v8',
    });
    expect(() => parseConfigPlatform(enc({ os: 'linux' }))).toThrow(
      expect.objectContaining({ code: 'INVALID_IMAGE_MANIFEST' }),
    );
  });
});

// V8's JSON.parse message quotes a snippet of the input: from a registry, so it is escaped.
describe('not JSON from a registry', () => {
  it.each([
    ['control characters', `${CONTROL_TEXT}{}`],
    ['a 1 MB body', `z${MB_TEXT}`],
  ])('%s: manifest and config errors are escaped and short', async (_what, text) => {
    const bytes = Buffer.from(text);
    const m = await messageOf(() => parseManifestJson(bytes, MediaType.OCI_MANIFEST));
    expect(m).toMatch(/^parsing image manifest: not JSON: /);
    expectSafeText(m);
    const c = await messageOf(() => parseConfigPlatform(bytes));
    expect(c).toMatch(/^parsing image config: not JSON: /);
    expectSafeText(c);
  });
});
