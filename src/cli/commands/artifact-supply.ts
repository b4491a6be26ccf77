import type { Command } from 'commander';

// #12 flags of `artifact export` (locked manifests; image signatures) and the preflight steps they make.
export type SupplyOptions = {
  manifest: string[];
  lock?: string;
  updateLock?: boolean;
  verifyImages?: boolean;
  key?: string;
  allowUnsigned?: string[];
  withReferrers?: boolean;
};

export function addSupplyOptions(cmd: Command): Command {
  return cmd
    .option(
      '--lock <file>',
      'the manifest lock to hold the export to (default: MANIFEST.lock.json next to the manifest, when there)',
    )
    .option('--update-lock', 'take the digests the tags point at now and rewrite the lock (creates it when missing)')
    .option(
      '--verify-images',
      "verify each image's cosign signature (tag sha256-<hex>.sig) with --key before any layer, and each exported arch's own one when there (cosign sign --recursive); carry the signatures",
    )
    .option('--key <pub>', 'the cosign public key for --verify-images (PEM, ECDSA P-256: cosign.pub)')
    .option(
      '--allow-unsigned <ref>',
      "with --verify-images: let this image through without a signature of its own (repeatable; a warning each; a bad signature, its own or an arch's, is still refused)",
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--with-referrers',
      "carry every referrer of each image and of each exported per-arch manifest (signatures, attestations, SBOMs): the OCI referrers API, else the sha256-<hex> tag index (at most 256 listed per digest), and cosign's .sig/.att/.sbom tags",
    );
}
