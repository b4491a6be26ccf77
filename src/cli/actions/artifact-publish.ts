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
import type { HostFlags } from '../commands/artifact-publish.js';

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

// What publish and pull share: the cache, the catalog, --concurrency, --key and Ctrl-C.
async function transferOptions(ctx: CommandContext, o: HostFlags, catalog: Catalog | undefined) {
  return {
    cache: new BlobCache(cacheDirFor(ctx, o.cache)),
    catalog: catalog ?? (await catalogFor(ctx, o.catalogDir)),
    concurrency: parseIntFlag('--concurrency', o.concurrency, 1, 64),
    ...(await keyVerifier(ctx, o.key)),
    ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
  };
}

function printProblems(ctx: CommandContext, err: unknown): void {
  if (err instanceof ArtifactProblemsError)
    for (const p of err.problems) ctx.io.stderr(`${safeText(formatProblem(p))}\n`);
}

export async function runPublish(
  art: string,
  target: string,
  o: HostFlags & { level?: string },
  ctx: CommandContext,
  catalog?: Catalog,
): Promise<void> {
  const ref = parseOciRef(target, { flag: 'publish target', needTag: true });
  const level = levelFlag(art, o.level);
  const shared = await transferOptions(ctx, o, catalog);
  const store = storeFor(ctx, ref, o);
  try {
    const r = await publishArtifact({
      ...(level !== undefined ? { level } : {}),
      artifact: absPath(ctx, art),
      target: store,
      ref,
      ...shared,
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

export async function runPull(
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
  const shared = await transferOptions(ctx, o, catalog);
  const store = storeFor(ctx, ref, o);
  try {
    const r = await pullArtifact({
      source: store,
      ref,
      output,
      ...shared,
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
