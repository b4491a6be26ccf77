import type { Command } from 'commander';
import { ArtifactProblemsError, formatProblem } from '../../artifact-read/index.js';
import { BlobCache } from '../../cache/index.js';
import type { Catalog } from '../../catalog/index.js';
import { parseOciRef, publishArtifact, pullArtifact } from '../../publish/index.js';
import { registryTarget, targetRegistry } from '../../push/index.js';
import type { Reference } from '../../reference/index.js';
import { safeText } from '../../util/safe-text.js';
import { levelProblem } from '../../archive/compress.js';
import { compressionOfName } from '../../archive/output-name.js';
import { partsListName, presentParts } from '../../archive/parts.js';
import { KkoError } from '../../errors.js';
import { absPath, assertWritable, cacheDirFor, catalogFor, parseIntFlag } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { formatBytes } from '../progress.js';
import { keyVerifier } from './artifact-read.js';

type HostFlags = {
  plainHttp?: boolean;
  skipTlsVerify?: boolean;
  certsPath?: string;
  retries: string;
  concurrency: string;
  cache?: string;
  key?: string;
  json?: boolean;
  catalogDir?: string[];
};

const PUBLISH_HELP = `
The artifact goes to HOST/REPOSITORY as ONE OCI index under TAG: every image × arch manifest of the artifact (its
blobs pushed to the same repository, read in place: nothing is unpacked but binaries deflated in a .tar.gz, once,
into the cache), plus an artifact manifest (artifactType application/vnd.kko.artifact.v1) whose layers are the kk
manifest, kko/inventory.json, its signature, SHA256SUMS and every binary and ISO, each titled with its path.
The same artifact always gives the same index digest. Blobs the registry has are skipped; the tag comes last.
Credentials: docker's config.json, then containers' auth.json.

Examples:
  $ kko artifact publish kubekey-artifact.tar.gz oci://registry.example.com/kko/artifact:v1.28.12
  $ kko artifact publish art.tar.zst oci://10.0.0.5:5000/offline/k8s:v1.28.12 --plain-http --json
  $ kko artifact publish art-level1.tar.gz oci://10.0.0.5:5000/offline/k8s:v1.28.12 --plain-http --level 1

--level N is the gzip (1..9) or zstd (1..22) level the artifact was written with, recorded so pull writes the same
bytes; without it the writer's default (gzip 6, zstd 3, what export writes) is recorded. A .tar takes no --level.

Exit codes: 0 published, 1 the artifact fails verification or the registry failed (re-run: only what is missing
is sent), 2 invalid input (a bad oci:// reference, an artifact kko did not write).
`;

const PULL_HELP = `
Writes back the artifact publish pushed, byte for byte (same sha256 as the published file; a split one as the same
parts): every blob is fetched into the cache (verified, resumed after a cut), the archive is written from the cache
with the recorded compression, mtime and split size in a staging directory beside -o, verified as
\`kko artifact verify\` does and against the published sha256, and only then renamed to -o.

Examples:
  $ kko artifact pull oci://registry.example.com/kko/artifact:v1.28.12 -o kubekey-artifact.tar.gz
  $ kko artifact pull oci://10.0.0.5:5000/offline/k8s@sha256:… -o art.tar.zst --plain-http --key release.pub

Exit codes: 0 written, 1 a blob or the rebuilt artifact does not verify (named; nothing written) or the registry
failed, 2 invalid input (a bad oci:// reference, not a kko artifact, unsafe layer titles, -o exists without
--force).
`;

function addHostOptions(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'the registry speaks plain HTTP')
    .option('--skip-tls-verify', 'do not verify the registry certificate')
    .option('--certs-path <dir>', 'CA (*.crt) and client certificates (*.cert/*.key) for the registry')
    .option('--retries <n>', 'retries per request on 5xx, 429, resets and timeouts, with backoff', '4')
    .option('--concurrency <n>', 'blobs in flight', '4')
    .option('--cache <dir>', 'blob cache (default: $KKO_CACHE_DIR, $XDG_CACHE_HOME/kko, else ~/.cache/kko)')
    .option('--catalog-dir <dir>', 'extra catalog dir (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print the result as JSON');
}

// --level: a whole number 1..22, checked against the compression the artifact's name says before it is opened
// (publishArtifact checks it again against what the archive really is).
function levelFlag(art: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const level = parseIntFlag('--level', value, 1, 22);
  const named = compressionOfName(art);
  const why = named ? levelProblem(named, level) : undefined;
  if (why)
    throw new KkoError('INVALID_INPUT', `--level ${level}: ${why}`, {
      hint: 'pass the level the artifact was written with (gzip 1..9, zstd 1..22); a .tar takes none',
    });
  return level;
}

// The registry as a store, with push's credentials, TLS and plain-HTTP handling.
function storeFor(ctx: CommandContext, ref: Reference, o: HostFlags): ReturnType<typeof registryTarget> {
  const reg = targetRegistry(undefined, {
    registry: ref.registry,
    plainHTTP: Boolean(o.plainHttp),
    skipTLSVerify: Boolean(o.skipTlsVerify),
    ...(o.certsPath ? { certsPath: absPath(ctx, o.certsPath) } : {}),
  });
  return registryTarget(reg, {
    env: ctx.io.env,
    http: { retries: parseIntFlag('--retries', o.retries, 0, 20), maxConcurrency: 16 },
  });
}

function printProblems(ctx: CommandContext, err: unknown): void {
  if (err instanceof ArtifactProblemsError)
    for (const p of err.problems) ctx.io.stderr(`${safeText(formatProblem(p))}\n`);
}

async function runPublish(
  art: string,
  target: string,
  o: HostFlags & { level?: string },
  ctx: CommandContext,
  catalog?: Catalog,
): Promise<void> {
  const ref = parseOciRef(target, { flag: 'publish target', needTag: true });
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 64);
  const level = levelFlag(art, o.level);
  const signed = await keyVerifier(ctx, o.key);
  const store = storeFor(ctx, ref, o);
  try {
    const r = await publishArtifact({
      ...(level !== undefined ? { level } : {}),
      artifact: absPath(ctx, art),
      target: store,
      ref,
      cache: new BlobCache(cacheDirFor(ctx, o.cache)),
      catalog: catalog ?? (await catalogFor(ctx, o.catalogDir)),
      concurrency,
      ...signed,
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    if (o.json) return printJson(ctx, r);
    ctx.io.stdout(`published ${safeText(r.ref)}@${r.digest}\n`);
    if (!r.byteIdentical)
      ctx.io.stderr(
        `note: not byte-identical: ${safeText(r.notByteIdentical ?? '')}; pull will write an equivalent kko artifact (the same entries with the same bytes, in kko's layout)\n`,
      );
    ctx.io.stderr(
      `${r.images} image manifest(s), ${r.files} file(s); ${r.blobs.copied} blob(s) sent (${formatBytes(r.blobs.bytesSent)}), ${r.blobs.present} already there\n`,
    );
  } catch (err) {
    printProblems(ctx, err);
    throw err;
  } finally {
    await store.close?.();
  }
}

async function runPull(
  source: string,
  o: HostFlags & { output: string; force?: boolean },
  ctx: CommandContext,
  catalog?: Catalog,
): Promise<void> {
  const ref = parseOciRef(source, { flag: 'pull source' });
  // an existing artifact (or parts of one, or their list) is not replaced without --force, as export does
  const output = absPath(ctx, o.output);
  for (const path of [output, partsListName(output), ...(await presentParts(output)).values()])
    await assertWritable(path, Boolean(o.force));
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 64);
  const signed = await keyVerifier(ctx, o.key);
  const store = storeFor(ctx, ref, o);
  try {
    const r = await pullArtifact({
      source: store,
      ref,
      output,
      cache: new BlobCache(cacheDirFor(ctx, o.cache)),
      catalog: catalog ?? (await catalogFor(ctx, o.catalogDir)),
      concurrency,
      ...signed,
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    if (o.json) return printJson(ctx, r);
    for (const f of r.files) ctx.io.stdout(`${safeText(f)}\n`);
    ctx.io.stderr(
      r.byteIdentical
        ? `pulled ${safeText(r.ref)} (${r.digest}): sha256 ${r.sha256}, byte for byte what was published\n`
        : `pulled ${safeText(r.ref)} (${r.digest}): sha256 ${r.sha256}, not byte-identical: another tool wrote the published artifact, so this is an equivalent kko artifact (the same entries with the same bytes, verified)\n`,
    );
  } catch (err) {
    printProblems(ctx, err);
    throw err;
  } finally {
    await store.close?.();
  }
}

export function registerArtifactPublish(
  artifact: Command,
  ctx: CommandContext,
  catalog?: () => Promise<Catalog>,
): void {
  addHostOptions(
    artifact
      .command('publish')
      .description('push the whole artifact to an OCI registry as one OCI index (images + an artifact manifest)')
      .argument('<artifact>', 'the artifact (.tar.gz, .tar.zst, .tar, or ART.part-000)')
      .argument('<target>', 'oci://HOST[:PORT]/REPOSITORY:TAG')
      .option('--key <pub>', 'public key (PEM) the artifact must be signed with')
      .option('--level <n>', 'the gzip (1..9) / zstd (1..22) level the artifact was written with (default: 6 / 3)'),
  )
    .addHelpText('after', PUBLISH_HELP)
    .action(async (art: string, target: string, o: HostFlags & { level?: string }) =>
      runPublish(art, target, o, ctx, await catalog?.()),
    );
  addHostOptions(
    artifact
      .command('pull')
      .description('write a published artifact back, byte for byte, from an OCI registry')
      .argument('<source>', 'oci://HOST[:PORT]/REPOSITORY:TAG or …@sha256:<digest>')
      .requiredOption('-o, --output <file>', 'where the artifact goes (a split one: its parts and list beside it)')
      .option('--key <pub>', 'public key (PEM) the artifact must be signed with')
      .option('--force', 'replace an existing artifact at --output'),
  )
    .addHelpText('after', PULL_HELP)
    .action(async (source: string, o: HostFlags & { output: string; force?: boolean }) =>
      runPull(source, o, ctx, await catalog?.()),
    );
}
