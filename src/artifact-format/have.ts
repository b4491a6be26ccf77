import { z } from 'zod';
import { KkoError } from '../errors.js';
import { parseReference } from '../reference/index.js';
import { safeText } from '../util/safe-text.js';
import { describeZodIssue, formatPath } from '../util/yaml-doc.js';

// #12 item 3: the have-list (`kko artifact inventory ART > have.json`): what the air-gapped side already holds, which a
// delta export (`artifact export --have have.json`) leaves out. Written by artifact-read/have.ts, read here.
export const HAVE_API_VERSION = 'kko.io/v1alpha1';
export const HAVE_KIND = 'ArtifactHave';

const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, 'expected a sha256 of 64 hex');
const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256:<64 hex>');

export const haveListSchema = z.looseObject({
  apiVersion: z.literal(HAVE_API_VERSION),
  kind: z.literal(HAVE_KIND),
  // The artifact listed: its path (for messages) and the sha256 of its kko/inventory.json (a delta names it).
  base: z.looseObject({ artifact: z.string(), inventorySha256: sha256Hex.optional() }),
  refs: z.record(z.string(), z.string()), // images/index.json ref name → manifest digest
  blobs: z.array(digest),
  // A registry's have-list (`artifact inventory --registry`), per repository: the image repository as the manifest
  // names it (docker.io/calico/cni), the name push gave it there, and the config / layer blobs that answer HEAD in that
  // repository. `blobs` stays their union, so older readers read it; without this field (an artifact's list, or one
  // written before) every blob is held for every image.
  repositories: z
    .array(z.looseObject({ name: z.string(), target: z.string().optional(), blobs: z.array(digest) }))
    .optional(),
  files: z.array(z.looseObject({ path: z.string(), sha256: sha256Hex, size: z.number().int().nonnegative() })),
});

export type HaveList = z.infer<typeof haveListSchema>;

// The largest have-list read (a 100k-blob artifact lists ~8 MB): a bigger file is refused before it is parsed.
export const MAX_HAVE_BYTES = 32 * 1024 * 1024;

// Parse a have-list file; not JSON or a wrong shape is INVALID_INPUT naming the file and the field.
export function parseHaveList(text: string, file: string): HaveList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `${file}: not JSON: ${safeText((err as Error).message)}`, {
      cause: err,
      hint: 'write it with `kko artifact inventory OLD_ART > have.json` on the side that holds OLD_ART',
    });
  }
  const r = haveListSchema.safeParse(doc, { reportInput: true });
  if (!r.success) {
    const first = r.error.issues[0];
    const path = first ? formatPath(first.path as PropertyKey[]) : '';
    throw new KkoError(
      'INVALID_INPUT',
      `${file}: ${path ? `${path}: ` : ''}${first ? describeZodIssue(first) : 'invalid'}`,
      { hint: 'a have-list is what `kko artifact inventory OLD_ART` prints (kind: ArtifactHave)' },
    );
  }
  if (!r.data.base.inventorySha256)
    throw new KkoError('INVALID_INPUT', `${file}: base.inventorySha256: missing`, {
      hint: 'a delta names its base by the sha256 of its kko/inventory.json: list a kko artifact, not one of kk',
    });
  return r.data;
}

// The image repository of a ref as have-lists key it: registry/repository, Docker Hub defaults filled in.
export function haveRepository(ref: string): string {
  const r = parseReference(ref);
  return `${r.registry}/${r.repository}`;
}

// Whether the far side holds a blob where an image needs it: in that image's repository when the list is per
// repository (a registry's), else anywhere (an artifact's list: push --base / import take it from the base).
export type HeldBlobs = { has(imageRef: string, digest: string): boolean };

export function heldBlobs(have: HaveList): HeldBlobs {
  if (!have.repositories) {
    const all = new Set(have.blobs);
    return { has: (_ref, d) => all.has(d) };
  }
  const byRepo = new Map(have.repositories.map((r) => [r.name, new Set(r.blobs)]));
  return { has: (ref, d) => byRepo.get(haveRepository(ref))?.has(d) ?? false };
}
