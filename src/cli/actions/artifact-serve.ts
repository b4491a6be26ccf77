import {
  ArtifactStore,
  DeltaSource,
  assertBaseOf,
  isImportedDir,
  openImageStore,
  type ImageStore,
} from '../../artifact-store/index.js';
import type { Catalog } from '../../catalog/index.js';
import { KkoError } from '../../errors.js';
import { parseListen, startServer } from '../../serve/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, catalogFor } from '../common.js';
import { keyVerifier } from './artifact-read.js';
import type { CommandContext } from '../context.js';
import { atLeast } from '../output.js';
import type { ServeCliOptions } from '../commands/artifact-serve.js';

// `kko artifact serve`: open (verify) the artifact, serve until a signal, then drain and exit 130/143.
export async function runServe(artifact: string, o: ServeCliOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const listen = parseListen(o.listen);
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey))
    throw new KkoError('INVALID_INPUT', '--tls-cert and --tls-key go together', {
      hint: 'give both PEM files, or neither for plain HTTP',
    });
  const signal = ctx.io.interrupts?.();
  const verbose = atLeast(ctx.level ?? 'info', 'debug');
  const quiet = !atLeast(ctx.level ?? 'info', 'info');
  const path = absPath(ctx, artifact);
  const dir = await isImportedDir(path);
  if (dir && o.key)
    throw new KkoError(
      'INVALID_INPUT',
      `--key: ${artifact} is a directory; only an artifact file carries a signature`,
      {
        hint: 'serve the signed artifact file with --key, or import it with `kko artifact import --key` and serve the directory without --key',
      },
    );
  if (!quiet && !o.json) ctx.io.stderr(`${dir ? 'reading' : 'verifying'} ${artifact} …\n`);
  const opened = await openImageStore(path, {
    catalog,
    ...(signal ? { signal } : {}),
    ...(await keyVerifier(ctx, o.key)),
  });
  const store = await withBase(opened, artifact, o, ctx, catalog, signal).catch(async (err: unknown) => {
    await opened.close();
    throw err;
  });
  try {
    const server = await startServer(store, {
      listen,
      ...(o.tlsCert && o.tlsKey ? { tls: { cert: absPath(ctx, o.tlsCert), key: absPath(ctx, o.tlsKey) } } : {}),
      ...(o.htpasswd ? { htpasswd: absPath(ctx, o.htpasswd) } : {}),
      ...(o.namespaceOverride ? { namespaceOverride: o.namespaceOverride } : {}),
      ...(verbose ? { log: (line: string) => ctx.io.stderr(`${safeText(line)}\n`) } : {}),
    });
    const repos = store.repositories().length;
    if (o.json)
      ctx.io.stdout(
        `${JSON.stringify({ event: 'listening', url: server.url, host: server.host, port: server.port, repositories: repos })}\n`,
      );
    else if (!quiet)
      ctx.io.stderr(`serving ${repos} repositories from ${artifact} on ${server.url} (read-only); Ctrl-C stops\n`);
    await new Promise<void>((resolve) =>
      signal ? signal.addEventListener('abort', () => resolve(), { once: true }) : undefined,
    );
    if (!quiet && !o.json) ctx.io.stderr('stopping: finishing requests in flight …\n');
    await server.close();
    signal?.throwIfAborted();
  } finally {
    await store.close();
  }
}

// #12 item 3: a delta serves only with its base (--base OLD_ART: omitted blobs are read from it, DeltaSource); alone
// it is refused, since its manifests name blobs it does not hold.
async function withBase(
  store: ImageStore,
  artifact: string,
  o: ServeCliOptions,
  ctx: CommandContext,
  catalog: Catalog,
  signal: AbortSignal | undefined,
): Promise<ImageStore> {
  const delta = store instanceof ArtifactStore ? store.delta : undefined;
  if (o.base === undefined && !delta) return store;
  if (!delta || !(store instanceof ArtifactStore))
    throw new KkoError('INVALID_INPUT', `--base: ${artifact} is not a delta artifact`, {
      hint: 'drop --base: a complete artifact needs none',
    });
  const base = delta.base.artifact ?? 'OLD_ART';
  if (o.base === undefined)
    throw new KkoError(
      'INVALID_INPUT',
      `${artifact} is a delta of ${base} (inventory sha256 ${delta.base.inventorySha256}): not complete on its own; ${delta.omitted.blobs.length} blob(s) its images need are in the base`,
      {
        hint: `serve it with its base: kko artifact serve ${artifact} --base ${base}; or import both into one directory (kko artifact import ${base} --dir DIR; kko artifact import ${artifact} --dir DIR) and serve DIR`,
      },
    );
  if (await isImportedDir(absPath(ctx, o.base)))
    throw new KkoError('INVALID_INPUT', `--base ${o.base}: a directory; pass the base artifact file`, {
      hint: 'or import the delta into that directory (kko artifact import DELTA --dir DIR) and serve DIR',
    });
  const old = await ArtifactStore.open(absPath(ctx, o.base), { catalog, ...(signal ? { signal } : {}) });
  try {
    assertBaseOf(store, old, 'nothing was served');
  } catch (err) {
    await old.close();
    throw err;
  }
  return new DeltaSource(store, old);
}
