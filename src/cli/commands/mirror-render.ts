import type { Command } from 'commander';
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

type RenderFlags = {
  registry?: string;
  manifest: string[];
  format?: string;
  output?: string;
  force?: boolean;
  plainHttp?: boolean;
  skipTlsVerify?: boolean;
  ca?: string;
  namespaceOverride?: string;
  cluster?: string;
  kkVersion?: string;
  kkPushNames?: boolean;
  catalogDir?: string[];
};

const HELP = `
Formats and where they go on a node:
  containerd       DIR/<upstream>/hosts.toml (+ DIR/<registry>/hosts.toml): copy DIR to /etc/containerd/certs.d
                   (CRI: config_path = "/etc/containerd/certs.d"); ctr images pull --hosts-dir DIR works too
  docker           DIR/daemon.json: merge into /etc/docker/daemon.json (registry-mirrors serve docker.io only)
  registries.conf  DIR/registries.conf: /etc/containers/registries.conf.d/50-kko.conf (CRI-O, podman)
  kk               DIR/registry.yaml: the registry: block under spec: of the kk Cluster config
Without -o the files go to stdout. Warnings (stderr) name images a format cannot send to the registry.
Names: those \`kko artifact images push\` creates with the same -f / --registry / --namespace-override / --kk-version
(the names nodes pull: namespaceOverride, else kk's default namespace, namespaceRewrite from kk v3.1.8); with
--kk-push-names, those kk's own push creates. An image pushed under another namespace than its own can be reached
through a prefix mirror only with registries.conf; containerd and docker nodes pull it by its private name (kk's
Cluster config sets those), which the registry's own hosts.toml covers.

Examples:
  kko mirror render --registry 10.0.0.5:5000 -m manifest.yaml --format containerd --plain-http -o certs.d
  kko mirror render --registry dockerhub.kubekey.local -m manifest.yaml --format containerd --ca /etc/ssl/registry/ca.crt
  kko mirror render -f config-sample.yaml -m manifest.yaml --format docker
  kko mirror render --registry 10.0.0.5:5000/kubesphere -m manifest.yaml --format registries.conf
`;

// `kko mirror render`: node-side registry config for the manifest's upstreams (library does the rendering).
export function registerMirrorRender(mirror: Command, ctx: CommandContext): void {
  mirror
    .command('render')
    .description(
      "write containerd / docker / registries.conf / kk config that sends the manifest's registries to the local one",
    )
    .option(
      '--registry <host[:port][/path]>',
      "the local registry (kk privateRegistry); default: the --cluster config's",
    )
    .requiredOption('-m, --manifest <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--format <format>', NODE_CONFIG_FORMATS.join(' | '))
    .option('-o, --output <dir>', 'write the files under DIR (default stdout)')
    .option('--force', 'overwrite existing files')
    .option('--plain-http', 'the registry speaks HTTP')
    .option('--skip-tls-verify', "do not verify the registry's certificate")
    .option('--ca <file>', "absolute path of the registry's CA certificate on the nodes")
    .option('--namespace-override <ns>', 'kk registry.namespaceOverride the images were pushed with')
    .option(
      '-f, --cluster <file>',
      'kk Cluster config: privateRegistry, namespaceOverride, auths (plainHTTP, skipTLSVerify, certsPath)',
    )
    .option(
      '--kk-version <v>',
      'the kk release that installs (its naming: namespaceOverride on push ≤ v3.1.6, namespaceRewrite from v3.1.8)',
    )
    .option(
      '--kk-push-names',
      "the images were pushed by kk itself (or kko push --kk-push-names): kk's push names, not the ones nodes pull",
    )
    .option('--catalog-dir <dir>', 'extra catalog dir (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .addHelpText('after', HELP)
    .action(async (flags: RenderFlags) => renderCommand(ctx, flags));
}

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

async function renderCommand(ctx: CommandContext, flags: RenderFlags): Promise<void> {
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
