import type { Command } from 'commander';
import type { Catalog } from '../../catalog/index.js';
import { registerArtifactSign } from './artifact-sign.js';
import type { CommandContext } from '../context.js';

export type InspectOptions = { artifact: string; json?: boolean };
// `catalog`: the catalog binaries are checked against (default: the shipped one plus KKO_CATALOG_DIR).
// `key` (#12): a public key; the artifact must then be signed with it and its signed inventory account for every file.
// `imageKey` / `allowUnsigned` (#12): re-verify each image's cosign signature carried in the artifact.
export type VerifyOptions = {
  artifact: string;
  json?: boolean;
  catalog?: Catalog;
  key?: string;
  imageKey?: string;
  allowUnsigned?: string[];
};
export type ImportOptions = {
  artifact: string;
  dir?: string;
  json?: boolean;
  catalog?: Catalog;
  key?: string;
  requireSignature?: boolean;
  base?: string;
};
export type ArtifactReadDeps = { catalog?: () => Promise<Catalog> };

const INSPECT_HELP = `
Examples:
  $ kko artifact inspect kubekey-artifact.tar.gz
  $ kko artifact inspect kubekey-artifact.tar.gz --json | jq '.images[].refName'

Works on artifacts made by kk too (images are then listed from images/index.json with class "unknown").
Exit codes: 0 ok, 2 unreadable or unsafe archive.
`;

const VERIFY_HELP = `
Examples:
  $ kko artifact verify kubekey-artifact.tar.gz
  $ kko artifact verify kubekey-artifact.tar.gz --json > verify.json
  $ kko artifact verify kubekey-artifact.tar.gz --key release.pub
  $ kko artifact verify kubekey-artifact.tar.gz --image-key cosign.pub --allow-unsigned docker.io/library/busybox:1.36

With --image-key PUB every image must carry its cosign signature (export --verify-images), verified offline with
that key for the digest the image was exported at, and that digest must be the artifact's content of the image
(the signed index lists each arch's manifest, whose config and layers are the layout's). A problem names the image.

With --key PUB the artifact must carry kko/inventory.json.sig, signed with that key (kko, cosign sign-blob or
openssl), and the signed inventory becomes the anchor: every file must be accounted for by it (binaries, ISOs and
documents by sha256 and size, blobs reached from images/index.json or named by it); anything else is extra.

Checks, in one streaming pass, against the strongest anchor first: kk binaries against the kko catalog's sha256,
ISOs against iso.checksum in kko/manifest.json, then kko/inventory.json and kko/SHA256SUMS (both travel with the
artifact); every images/blobs/sha256/<hex> against its name; the OCI layout is complete (no foreign layers left
to fetch); every inventory image is in images/index.json. A kk artifact (no kko/) gets blob, layout and catalog checks.
Prints one line per problem: "missing: PATH", "extra: PATH", "corrupt: PATH (sha256 want X got Y (ANCHOR))".
Exit codes: 0 intact, 1 something missing, extra or corrupt, 2 unreadable, unsafe or not an artifact.
`;

const IMPORT_HELP = `
Examples:
  $ kko artifact import kubekey-artifact.tar.gz                 # into ./kubekey, as kk artifact import does
  $ kko artifact import kubekey-artifact.tar.gz --dir /data/kubekey
  $ kko artifact import kubekey-artifact.tar.gz --require-signature --key release.pub
  $ kk create cluster -f config.yaml -a kubekey-artifact.tar.gz # kk then skips its own untar (artifact.md5 matches)

Files are unpacked into DIR/.kko-import-<pid>-*/ and hashed on the way; an entry the lists do not name (or with
another size) is refused from its header. Only when everything verifies are files moved into place and
DIR/artifact.md5 written. On any failure, SIGINT or SIGTERM DIR is left as it was; staging dirs of killed
imports are removed by the next import. With --require-signature --key PUB an artifact that is unsigned or signed
by another key is refused before any content is staged (the signature comes first, beside the inventory).
A delta (export --base / --have) is imported only where its base is: DIR must already hold every blob and file it
leaves out (each is hashed), or --base OLD_ART gives them (OLD_ART is verified, must be the delta's base, and what
the delta leaves out is taken from it). Otherwise nothing is written and each missing entry is listed.
  $ kko artifact import kubekey-artifact-delta.tar.gz --dir /data/kubekey   # /data/kubekey holds the base
  $ kko artifact import kubekey-artifact-delta.tar.gz --base kubekey-artifact-v1.28.8.tar.gz
Exit codes: 0 imported, 1 artifact incomplete or corrupt, or a delta's base absent (nothing imported), 2 unreadable
or unsafe archive, or --base not the delta's base.
`;

// Registers inspect, verify and import under `kko artifact`.
export function registerArtifactReadCommands(
  artifact: Command,
  ctx: CommandContext,
  deps: ArtifactReadDeps = {},
): void {
  const withCatalog = async <T extends object>(o: T): Promise<T & { catalog?: Catalog }> =>
    deps.catalog ? { ...o, catalog: await deps.catalog() } : o;
  artifact
    .command('inspect')
    .description('list what an artifact holds, by class and component, with sizes (reads it once, unpacks nothing)')
    .argument(
      '<artifact>',
      "artifact file (.tar.gz, .tar.zst or .tar), or a split one: its first part ART.part-000, the name ART, or 'ART.part-*' (quoted)",
    )
    .option('--json', 'print the report as JSON')
    .addHelpText('after', INSPECT_HELP)
    .action(async (artifactPath: string, o: { json?: boolean }) =>
      (await import('../actions/artifact-read.js')).runInspect({ artifact: artifactPath, ...o }, ctx),
    );
  artifact
    .command('verify')
    .description(
      're-hash every file of an artifact and check it is complete: report missing, extra and corrupt entries',
    )
    .argument(
      '<artifact>',
      "artifact file (.tar.gz, .tar.zst or .tar), or a split one: its first part ART.part-000, the name ART, or 'ART.part-*' (quoted)",
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--key <pub>',
      'require kko/inventory.json.sig signed with this public key (PEM); the signed inventory must account for every file',
    )
    .option(
      '--image-key <pub>',
      "re-verify each image's cosign signature carried in the artifact (export --verify-images) with this public key",
    )
    .option(
      '--allow-unsigned <ref>',
      'with --image-key: accept this image without a signature (repeatable)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .addHelpText('after', VERIFY_HELP)
    .action(
      async (artifactPath: string, o: { json?: boolean; key?: string; imageKey?: string; allowUnsigned?: string[] }) =>
        (await import('../actions/artifact-read.js')).runVerify(
          await withCatalog({ artifact: artifactPath, ...o }),
          ctx,
        ),
    );
  artifact
    .command('import')
    .description("unpack an artifact into kk's work dir, verifying everything before anything is moved into place")
    .argument(
      '<artifact>',
      "artifact file (.tar.gz, .tar.zst or .tar), or a split one: its first part ART.part-000, the name ART, or 'ART.part-*' (quoted)",
    )
    .option('--dir <dir>', "kk's work dir", 'kubekey')
    .option('--json', 'print the result as JSON')
    .option('--require-signature', 'refuse an artifact that is not signed with --key')
    .option('--key <pub>', 'the public key (PEM) the artifact must be signed with (implies --require-signature)')
    .option('--base <old-artifact>', 'for a delta: take what it leaves out from this artifact (its base)')
    .addHelpText('after', IMPORT_HELP)
    .action(
      async (
        artifactPath: string,
        o: { dir?: string; json?: boolean; key?: string; requireSignature?: boolean; base?: string },
      ) =>
        (await import('../actions/artifact-read.js')).runImport(
          await withCatalog({ artifact: artifactPath, ...o }),
          ctx,
        ),
    );
  registerArtifactSign(artifact, ctx, withCatalog);
}
