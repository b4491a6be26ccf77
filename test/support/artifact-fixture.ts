import { createHash } from 'node:crypto';
import { Command, CommanderError } from 'commander';
import type { TarEntry } from '../../src/archive/tar.js';
import type { Catalog } from '../../src/catalog/index.js';
import { registerArtifactReadCommands } from '../../src/cli/commands/artifact-read.js';
import { isKkoError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/index.js';
import type { CliRun } from '../cli/run-cli.js';
import { buildImage, seededBytes, type FixtureImage } from './builders.js';
import { catalogWithBinaries } from './catalog.js';

// A small kko artifact (OCI layout of two images, kk binaries, an ISO, kko/inventory.json) and the CLI to read it.

// `kko artifact …` through the real registration, with main()'s error → exit-code mapping, and the test catalog
// (the shipped one plus the fixture binaries' sha256) as the catalog verify and import trust.
export async function kkoWith(catalog: Catalog, argv: string[], cwd = process.cwd()): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  const io = {
    stdout: (t: string) => void (stdout += t),
    stderr: (t: string) => void (stderr += t),
    env: {},
    cwd,
    isTTY: false,
  };
  const program = new Command('kko').exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerArtifactReadCommands(
    program.command('artifact'),
    { io, setExit: (c) => void (code = c) },
    { catalog: async () => catalog },
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 2;
    else if (isKkoError(err)) {
      stderr += `error: ${err.message}\n`;
      if (err.hint) stderr += `hint: ${err.hint}\n`;
      code = err.isInputError ? 2 : 1;
    } else throw err;
  }
  return { code, stdout, stderr };
}

export type Img = { ref: string; arch: string; class: string; image: FixtureImage };

export function blobEntry(bytes: Buffer, digest: string): TarEntry {
  return { name: `images/blobs/sha256/${digest.slice(7)}`, data: bytes };
}

// How a test bends the fixture: `replace` swaps a file's bytes (the inventory row follows unless `keepInventory`),
// `extra` adds kk files that the inventory lists, `inventory` edits the inventory, `manifest` adds kko/manifest.json.
export type FixtureEdits = {
  replace?: Readonly<Record<string, Buffer>>;
  keepInventory?: boolean;
  extra?: ReadonlyArray<readonly [string, number]>;
  inventory?: (doc: Record<string, unknown>) => void;
  manifest?: unknown;
};

// A small KubeKey-layout artifact: an OCI layout of two images, kk binaries, an ISO, kko/inventory.json.
export function artifactEntries(imgs: readonly Img[], edits: FixtureEdits = {}): TarEntry[] {
  const blobs = new Map<string, TarEntry>();
  for (const { image } of imgs) {
    for (const b of [image.manifest, image.config, ...image.layers])
      blobs.set(b.descriptor.digest, blobEntry(b.bytes, b.descriptor.digest));
  }
  const manifests = imgs.map((i) => ({
    mediaType: MediaType.OCI_MANIFEST,
    digest: i.image.manifest.descriptor.digest,
    size: i.image.manifest.descriptor.size,
    annotations: { 'org.opencontainers.image.ref.name': `${i.ref}-${i.arch}` },
    platform: { architecture: i.arch, os: 'linux' },
  }));
  const seeded = (name: string, size: number): { name: string; data: Buffer } => ({
    name,
    data: seededBytes(name, size),
  });
  const listedBinaries = [...BINARY_FILES, ...(edits.extra ?? [])].map(([n, size]) => seeded(n, size));
  const listedIso = seeded(ISO_PATH, 5000);
  const actual = (f: { name: string; data: Buffer }): { name: string; data: Buffer } => ({
    name: f.name,
    data: edits.replace?.[f.name] ?? f.data,
  });
  const row = (f: { name: string; data: Buffer }) => {
    const d = edits.keepInventory ? f : actual(f);
    return { path: d.name, sha256: sha(d.data), size: d.data.length };
  };
  const inventory: Record<string, unknown> = {
    apiVersion: 'kko.io/v1alpha1',
    kind: 'ArtifactInventory',
    images: imgs.map((i) => ({
      ref: i.ref,
      arch: i.arch,
      refName: `${i.ref}-${i.arch}`,
      class: i.class,
      digest: i.image.manifest.descriptor.digest,
      size: 1,
    })),
    binaries: listedBinaries.map(row),
    isos: [{ ...row(listedIso), verified: false }],
  };
  edits.inventory?.(inventory);
  return [
    { name: 'kko/inventory.json', data: Buffer.from(JSON.stringify(inventory)), first: true },
    ...(edits.manifest !== undefined
      ? [{ name: 'kko/manifest.json', data: Buffer.from(JSON.stringify(edits.manifest)), first: true }]
      : []),
    { name: 'images/oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    {
      name: 'images/index.json',
      data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests })),
    },
    ...blobs.values(),
    ...listedBinaries.map(actual),
    actual(listedIso),
  ];
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// The fixture as a kko export writes it: the inventory lists the documents (index.json, oci-layout) too.
export function withDocuments(entries: TarEntry[]): TarEntry[] {
  const data = (name: string): Buffer => (entries.find((e) => e.name === name) as { data: Buffer }).data;
  const inv = JSON.parse(data('kko/inventory.json').toString()) as Record<string, unknown>;
  inv.documents = ['images/index.json', 'images/oci-layout'].map((path) => ({
    path,
    sha256: sha(data(path)),
    size: data(path).length,
  }));
  return entries.map((e) => (e.name === 'kko/inventory.json' ? { ...e, data: Buffer.from(JSON.stringify(inv)) } : e));
}
export const ISO_PATH = 'repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso';
// kk binaries of versions the shipped catalog knows (the test catalog vouches for these bytes)
export const BINARY_FILES: ReadonlyArray<readonly [string, number]> = [
  ...['kubeadm', 'kubelet', 'kubectl'].map((b) => [`kube/v1.28.12/amd64/${b}`, 3000] as const),
  ['etcd/v3.5.13/amd64/etcd-v3.5.13-linux-amd64.tar.gz', 2000],
  ['registry/harbor/v2.10.1/amd64/harbor-offline-installer-v2.10.1.tgz', 1500],
];

export const IMGS: Img[] = [
  {
    ref: 'docker.io/kubesphere/kube-apiserver:v1.28.12',
    arch: 'amd64',
    class: 'k8s-core',
    image: buildImage({ name: 'kube-apiserver', platform: { os: 'linux', architecture: 'amd64' } }),
  },
  {
    ref: 'docker.io/calico/cni:v3.27.3',
    arch: 'amd64',
    class: 'network',
    image: buildImage({ name: 'cni', platform: { os: 'linux', architecture: 'amd64' } }),
  },
];
export const firstLayer = (IMGS[0] as Img).image.layers[0]?.descriptor.digest ?? '';
export const layerPath = `images/blobs/sha256/${firstLayer.slice(7)}`;

// The shipped catalog, vouching for BINARY_FILES' bytes.
export function fixtureCatalog(dir: string): Promise<Catalog> {
  return catalogWithBinaries(
    dir,
    BINARY_FILES.map(([path, size]) => ({ path, data: seededBytes(path, size) })),
  );
}
