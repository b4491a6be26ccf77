import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// The argv lists the integration tests give `runCli` again and again, written once. The tests' default kk
// release is v3.1.12 (the naming every push test compares against unless it says otherwise).
export const TEST_KK = 'v3.1.12';

// Where `artifact images push|check` reads images from: an artifact file, an imported directory, or (check only)
// the manifest that names them.
export type ImagesSource = string | { readonly imagesDir: string } | { readonly manifest: string };

const sourceArgs = (source: ImagesSource): string[] =>
  typeof source === 'string'
    ? ['-a', source]
    : 'imagesDir' in source
      ? ['--images-dir', source.imagesDir]
      : ['-m', source.manifest];

// Where the images go: a plain-HTTP registry host[/path], named for kk v3.1.12; with `kkDefault` the argv leaves
// --kk-version out, so the CLI's own default release names them; or a kk Cluster config (-f) and its kk release.
export type ImagesTarget =
  string | { readonly registry: string; readonly kkDefault: true } | { readonly cluster: string; readonly kk?: string };

const targetArgs = (target: ImagesTarget): string[] =>
  typeof target === 'string'
    ? ['--registry', target, '--plain-http', '--kk-version', TEST_KK]
    : 'cluster' in target
      ? ['-f', target.cluster, '--kk-version', target.kk ?? TEST_KK]
      : ['--registry', target.registry, '--plain-http'];

// `kko artifact images <verb> <source> <target> <more…>`.
export function imagesArgs(
  verb: 'push' | 'check',
  source: ImagesSource,
  target: ImagesTarget,
  ...more: string[]
): string[] {
  return ['artifact', 'images', verb, ...sourceArgs(source), ...targetArgs(target), ...more];
}

// `kko artifact images push` of `source` to `target`.
export const pushArgs = (source: ImagesSource, target: ImagesTarget, ...more: string[]): string[] =>
  imagesArgs('push', source, target, ...more);

// `kko artifact images check`, the same way as pushArgs.
export const checkArgs = (source: ImagesSource, target: ImagesTarget, ...more: string[]): string[] =>
  imagesArgs('check', source, target, ...more);

// `kko artifact export -m <manifest> --mirror-config mirrors.yaml --cache <cache> -o <out> <more…>` (no -o when `out`
// is undefined: the default name); the file names are the ones writeExportInputs writes.
export function exportArgs(
  out: string | undefined,
  opts: { readonly manifest?: string; readonly mirrors?: string; readonly cache?: string } = {},
  ...more: string[]
): string[] {
  return [
    'artifact',
    'export',
    '-m',
    opts.manifest ?? 'm.yaml',
    '--mirror-config',
    opts.mirrors ?? 'mirrors.yaml',
    '--cache',
    opts.cache ?? 'cache',
    ...(out === undefined ? [] : ['-o', out]),
    ...more,
  ];
}

// `artifact export --verify-images` of `manifest` to `out` with the mirrors.yaml and cache of `dir`, no retries, quiet
// (#12 image-signature tests); `more` adds --key and the rest.
export const verifyImagesExportArgs = (out: string, dir: string, manifest: string, ...more: string[]): string[] =>
  exportArgs(
    out,
    { manifest, mirrors: join(dir, 'mirrors.yaml'), cache: join(dir, 'cache') },
    '--retries',
    '0',
    '--quiet',
    '--verify-images',
    ...more,
  );

// The NDJSON events of a --json run: every non-empty line must parse (a stray line fails the test).
export function jsonEvents<E = { type: string; [k: string]: unknown }>(stdout: string): E[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as E);
}

// A kk Manifest listing `images` for `arches`.
export function manifestYaml(images: readonly string[], arches: readonly string[] = ['amd64', 'arm64']): string {
  return `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [${arches.join(', ')}]\n  images:\n${images.map((i) => `  - ${i}`).join('\n')}\n`;
}

// A MirrorPolicy serving each of `prefixes` only from the plain-HTTP registry `host` (no upstream).
export function mirrorPolicyYaml(host: string, prefixes: readonly string[] = ['docker.io']): string {
  const rule = (prefix: string): string =>
    `- prefix: ${prefix}\n  mirrors:\n  - {location: ${host}, plainHTTP: true}\n  upstream: false\n`;
  return `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n${prefixes.map(rule).join('')}`;
}

// m.yaml and mirrors.yaml in `dir`, as exportArgs names them.
export async function writeExportInputs(
  dir: string,
  images: readonly string[],
  mirror: { readonly host: string; readonly prefixes?: readonly string[] },
): Promise<void> {
  await writeFile(join(dir, 'm.yaml'), manifestYaml(images));
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(mirror.host, mirror.prefixes));
}
