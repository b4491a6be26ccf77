import { isSafeName } from '../archive/tar.js';
import { levelProblem } from '../archive/compress.js';
import type { Compression } from '../archive/write.js';
import type { ManifestContent } from '../content/index.js';
import { KkoError } from '../errors.js';
import { MediaType, parseManifestJson, type Descriptor } from '../oci/index.js';
import { sha256Digest, type Digest } from '../reference/index.js';
import { quoteValue, safeText } from '../util/safe-text.js';

// The artifact as an OCI artifact (#12 item 6): one OCI index, tagged, whose children are
//  - the artifact manifest (artifactType ARTIFACT_TYPE, config = the OCI empty descriptor), whose layers are every file
//    of the artifact that is not an image blob: kko/ (inventory, its signature, the kk manifest, SHA256SUMS),
//    images/index.json and oci-layout, blobs no image reaches (upstream indexes, signature manifests), every binary
//    and ISO; each titled with its path (org.opencontainers.image.title), in archive order;
//  - every image × arch manifest of images/index.json, as it stands there (digest, platform, ref-name annotation).
// The artifact manifest's annotations are what the archive writer needs to write the same bytes again.
// Everything is compact JSON with a fixed key order, so the same artifact gives the same index digest.

export const ARTIFACT_TYPE = 'application/vnd.kko.artifact.v1';
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
const PREFIX = 'io.kko.archive.';
export const ANNOTATIONS = {
  compression: `${PREFIX}compression`, // gzip | zstd | none
  level: `${PREFIX}level`, // the gzip / zstd level the archive was written with (absent: none, or an older publish)
  byteIdentical: `${PREFIX}byte-identical`, // "false": another tool wrote it; pull writes an equivalent kko artifact
  mtime: `${PREFIX}mtime`, // the one header mtime (SOURCE_DATE_EPOCH at export, else 0)
  splitSize: `${PREFIX}split-size`, // bytes per part of a split artifact (absent: one file)
  sha256: `${PREFIX}sha256`, // of the archive's bytes (the parts joined): the rebuild must hash to it
  stored: `${PREFIX}stored`, // on a layer: "true" when the writer stores its bytes instead of compressing them
} as const;

const EMPTY = Buffer.from('{}');
export const EMPTY_CONFIG: Descriptor = { mediaType: MediaType.OCI_EMPTY, digest: sha256Digest(EMPTY), size: 2 };
export const EMPTY_CONFIG_BYTES = EMPTY;

export type ArchiveRecipe = {
  readonly compression: Compression;
  readonly level?: number;
  readonly byteIdentical?: boolean; // false: pull rebuilds the same entries with the same bytes, not the same archive
  readonly mtime: number;
  readonly splitSize?: number;
  readonly sha256: string;
};

// One file of the artifact carried as a layer.
export type FileLayer = {
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  readonly stored: boolean;
};

function content(doc: unknown, mediaType: string): ManifestContent {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType, digest: sha256Digest(bytes) };
}

function fileMediaType(name: string): string {
  return name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
}

export function artifactManifest(recipe: ArchiveRecipe, files: readonly FileLayer[]): ManifestContent {
  return content(
    {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType: ARTIFACT_TYPE,
      config: EMPTY_CONFIG,
      layers: files.map((f) => ({
        mediaType: fileMediaType(f.name),
        digest: f.digest,
        size: f.size,
        annotations: { [TITLE_ANNOTATION]: f.name, ...(f.stored ? { [ANNOTATIONS.stored]: 'true' } : {}) },
      })),
      annotations: {
        [ANNOTATIONS.compression]: recipe.compression,
        ...(recipe.level !== undefined ? { [ANNOTATIONS.level]: String(recipe.level) } : {}),
        ...(recipe.byteIdentical === false ? { [ANNOTATIONS.byteIdentical]: 'false' } : {}),
        [ANNOTATIONS.mtime]: String(recipe.mtime),
        ...(recipe.splitSize !== undefined ? { [ANNOTATIONS.splitSize]: String(recipe.splitSize) } : {}),
        [ANNOTATIONS.sha256]: recipe.sha256,
      },
    },
    MediaType.OCI_MANIFEST,
  );
}

// The index put under the tag: the artifact manifest first, then the images as images/index.json lists them.
export function publishedIndex(artifact: ManifestContent, images: readonly Descriptor[]): ManifestContent {
  return content(
    {
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      artifactType: ARTIFACT_TYPE,
      manifests: [
        {
          mediaType: MediaType.OCI_MANIFEST,
          digest: artifact.digest,
          size: artifact.bytes.length,
          artifactType: ARTIFACT_TYPE,
        },
        ...images.map((d) => ({
          mediaType: d.mediaType,
          digest: d.digest,
          size: d.size,
          ...(d.platform ? { platform: d.platform } : {}),
          ...(d.annotations ? { annotations: d.annotations } : {}),
        })),
      ],
    },
    MediaType.OCI_INDEX,
  );
}

const notKko = (what: string, why: string): KkoError =>
  new KkoError('INVALID_INPUT', `${what}: ${why}`, {
    hint: 'pull only what `kko artifact publish` pushed (an index with artifactType application/vnd.kko.artifact.v1)',
  });

// The published index: its artifact manifest and its images. Not a kko artifact: INVALID_INPUT naming what is off.
export function parsePublishedIndex(m: ManifestContent, what: string): { artifact: Descriptor; images: Descriptor[] } {
  const parsed = parseManifestJson(m.bytes, m.mediaType);
  if (parsed.kind !== 'index' || parsed.manifest.artifactType !== ARTIFACT_TYPE)
    throw notKko(
      what,
      `not a kko artifact (${parsed.kind === 'index' ? `artifactType ${parsed.manifest.artifactType ?? 'none'}` : 'an image manifest, not an index'})`,
    );
  const [artifact, ...images] = parsed.manifest.manifests;
  if (!artifact || artifact.artifactType !== ARTIFACT_TYPE)
    throw notKko(what, 'its first child is not the artifact manifest');
  return { artifact, images: [...images] };
}

const SAFE_INT = /^(0|[1-9][0-9]{0,15})$/;

// io.kko.archive.level: absent, or a whole number in range for the compression (none has no level); anything else
// is refused naming the annotation and its value, as publish refuses such a PublishOptions.level.
function levelOf(v: string | undefined, compression: Compression, what: string): number | undefined {
  if (v === undefined) return undefined;
  const why = /^-?(0|[1-9][0-9]{0,15})$/.test(v) ? levelProblem(compression, Number(v)) : 'not a whole number';
  if (why) throw notKko(what, `annotation ${ANNOTATIONS.level} is ${quoteValue(v)}: ${why}`);
  return Number(v);
}

// The artifact manifest's recipe and file layers, each field checked.
export function parseArtifactManifest(m: ManifestContent, what: string): { recipe: ArchiveRecipe; files: FileLayer[] } {
  const parsed = parseManifestJson(m.bytes, m.mediaType);
  if (parsed.kind !== 'image' || parsed.manifest.artifactType !== ARTIFACT_TYPE)
    throw notKko(what, 'the artifact manifest has another artifactType');
  const a = parsed.manifest.annotations ?? {};
  const compression = a[ANNOTATIONS.compression];
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none')
    throw notKko(what, `annotation ${ANNOTATIONS.compression} is ${quoteValue(compression)}, not gzip, zstd or none`);
  const num = (key: string, min: number): number | undefined => {
    const v = a[key];
    if (v === undefined) return undefined;
    if (!SAFE_INT.test(v) || Number(v) < min)
      throw notKko(what, `annotation ${key} is ${quoteValue(v)}, not a whole number${min > 0 ? ` from ${min}` : ''}`);
    return Number(v);
  };
  const mtime = num(ANNOTATIONS.mtime, 0);
  if (mtime === undefined) throw notKko(what, `annotation ${ANNOTATIONS.mtime} is missing`);
  const splitSize = num(ANNOTATIONS.splitSize, 1);
  const level = levelOf(a[ANNOTATIONS.level], compression, what);
  const identical = a[ANNOTATIONS.byteIdentical];
  if (identical !== undefined && identical !== 'false')
    throw notKko(what, `annotation ${ANNOTATIONS.byteIdentical} is ${quoteValue(identical)}, not "false"`);
  const sha256 = a[ANNOTATIONS.sha256] ?? '';
  if (!/^[a-f0-9]{64}$/.test(sha256)) throw notKko(what, `annotation ${ANNOTATIONS.sha256} is not a sha256`);
  const seen = new Set<string>();
  // Each title is an archive entry name: refused here, before any blob is fetched, when the writer would refuse it
  // (absolute, '..', empty segments), when it holds a control character, or when two layers claim it.
  const files = parsed.manifest.layers.map((l, i) => {
    const name = l.annotations?.[TITLE_ANNOTATION];
    if (!name) throw notKko(what, `layer ${i} (${l.digest}) has no ${TITLE_ANNOTATION}`);
    if (!isSafeName(name))
      throw notKko(
        what,
        `layer ${i} (${l.digest}): ${TITLE_ANNOTATION} "${safeText(name)}" is not a relative path inside the artifact`,
      );
    if (seen.has(name))
      throw notKko(what, `layer ${i} (${l.digest}): ${TITLE_ANNOTATION} "${safeText(name)}" names a second file`);
    seen.add(name);
    return { name, digest: l.digest, size: l.size, stored: l.annotations?.[ANNOTATIONS.stored] === 'true' };
  });
  const recipe: ArchiveRecipe = {
    compression,
    ...(level !== undefined ? { level } : {}),
    ...(identical === 'false' ? { byteIdentical: false } : {}),
    mtime,
    ...(splitSize !== undefined ? { splitSize } : {}),
    sha256,
  };
  return { recipe, files };
}
