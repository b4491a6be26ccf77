import { join, relative, resolve, sep } from 'node:path';
import { KkoError, formatIssue } from '../../errors.js';
import { kkNamingOf, loadClusterConfig, mergeManifests, type RegistryFacts } from '../../manifest/index.js';
import {
  NODE_CONFIG_FORMATS,
  renderNodeConfig,
  type LocalRegistry,
  type NodeConfigFormat,
  type RenderedConfig,
} from '../../node-config/index.js';
import { absPath, assertWritable, catalogFor, resolveKkVersion, writeFileAtomic } from '../common.js';
import type { CommandContext } from '../context.js';
import { readManifests } from './manifest-read.js';
import type { RenderFlags } from '../commands/mirror-render.js';

function parseFormat(value: string | undefined): NodeConfigFormat {
  if (value && (NODE_CONFIG_FORMATS as readonly string[]).includes(value)) return value as NodeConfigFormat;
  const what = value === undefined ? 'missing --format' : 'unknown --format';
  throw new KkoError('INVALID_INPUT', `mirror render: ${what}`, { hint: `one of ${NODE_CONFIG_FORMATS.join(', ')}` });
}

// Flags over the --cluster config's registry block; kk init registry's certs dir holds ca.crt.
function localRegistry(flags: RenderFlags, facts: RegistryFacts | undefined): LocalRegistry {
  const privateRegistry = flags.registry ?? facts?.privateRegistry;
  if (!privateRegistry)
    throw new KkoError('INVALID_INPUT', 'mirror render: no registry', {
      hint: 'pass --registry HOST[:PORT], or -f a kk Cluster config with registry.privateRegistry',
    });
  const fromCluster = facts && (!flags.registry || flags.registry === facts.privateRegistry) ? facts : undefined;
  const certsCa = fromCluster?.auth?.certsPath ? join(fromCluster.auth.certsPath, 'ca.crt') : undefined;
  const caFile = flags.ca ?? certsCa;
  const namespaceOverride = flags.namespaceOverride ?? fromCluster?.namespaceOverride;
  const namespaceRewrite = fromCluster?.namespaceRewrite;
  return {
    ...(namespaceRewrite ? { namespaceRewrite } : {}),
    privateRegistry,
    plainHTTP: flags.plainHttp ?? fromCluster?.auth?.plainHTTP ?? false,
    skipTLSVerify: flags.skipTlsVerify ?? fromCluster?.auth?.skipTLSVerify ?? false,
    ...(caFile ? { caFile } : {}),
    ...(namespaceOverride ? { namespaceOverride } : {}),
  };
}

export async function renderCommand(ctx: CommandContext, flags: RenderFlags): Promise<void> {
  const format = parseFormat(flags.format);
  const merged = mergeManifests((await readManifests(ctx, flags.manifest)).map((p) => p.manifest));
  const facts = flags.cluster ? await loadClusterConfig(absPath(ctx, flags.cluster)) : undefined;
  const registry = localRegistry(flags, facts?.registry);
  // The names as `kko artifact images push` with the same -f / flags created them (one rule: pushedRepository).
  const catalog = await catalogFor(ctx, flags.catalogDir);
  const version = await resolveKkVersion(ctx, catalog, flags.kkVersion, merged.spec.kko?.kkVersion);
  const out = renderNodeConfig(
    {
      images: merged.spec.images ?? [],
      registry,
      kk: kkNamingOf(catalog.profile(version).features),
      mode: flags.kkPushNames ? 'kk' : 'pull',
      kkRepository: (r) => catalog.kkRepository(r),
    },
    format,
  );
  for (const i of out.issues) ctx.io.stderr(`${formatIssue(i)}\n${i.hint ? `  hint: ${i.hint}\n` : ''}`);
  if (flags.output && flags.output !== '-') return writeAll(ctx, absPath(ctx, flags.output), out, Boolean(flags.force));
  const many = out.files.length > 1;
  ctx.io.stdout(out.files.map((f) => (many ? `# --- ${f.path}\n${f.text}` : f.text)).join('\n'));
}

// Check every target first (nothing is written when one exists without --force), then temp name + rename each.
async function writeAll(ctx: CommandContext, dir: string, out: RenderedConfig, force: boolean): Promise<void> {
  const targets = out.files.map((f) => ({ file: resolve(dir, f.path), text: f.text }));
  for (const t of targets) {
    if (relative(dir, t.file).split(sep).includes('..'))
      throw new KkoError('INTERNAL', `mirror render: ${t.file} is outside ${dir}`);
    await assertWritable(t.file, force);
  }
  for (const t of targets) await writeFileAtomic(t.file, t.text);
  ctx.io.stderr(`wrote ${targets.length} file(s) under ${dir}: ${out.files.map((f) => f.path).join(', ')}\n`);
}
