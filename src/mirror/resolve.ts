import { KkoError } from '../errors.js';
import type { Host } from '../host/index.js';
import { formatReference, repositoryName, type Reference } from '../reference/index.js';
import type { RegistryMirror, RegistryRule, ResolvePolicy, RuleOrigin } from './schema.js';

// One place an image may be pulled from, in the order it should be tried: where, and its host's settings.
export type ImageSource = {
  registry: string; // host[:port]
  repository: string;
  ref: Reference; // the reference at this source (tag and digest kept)
  via: 'mirror' | 'upstream';
  rule?: string; // the prefix of the rule that produced it
} & Required<Pick<Host, 'plainHTTP' | 'skipTLSVerify'>> &
  Pick<Host, 'certsPath'>;

// One URL a file may be downloaded from, in the order it should be tried (the scheme is in the URL).
export type DownloadSource = {
  url: string;
  via: 'mirror' | 'upstream';
  rule?: string;
} & Required<Pick<Host, 'skipTLSVerify'>> &
  Pick<Host, 'certsPath'>;

// `optional`: an extra, preferred source (kk's cn helm file) may resolve to nothing under blockUpstream.
export type ResolveOptions = { optional?: boolean };

// The ordered candidates for an image: the best matching rule's mirrors (user rules first, then longest
// whole-segment prefix), then the upstream (unless the rule or the policy's blockUpstream forbids it).
export function resolveImageSources(
  ref: Reference,
  policy: Pick<ResolvePolicy, 'registries' | 'blockUpstream'>,
  opts: ResolveOptions = {},
): ImageSource[] {
  const name = `${ref.registry}/${ref.repository}`;
  const rule = longestMatch(policy.registries, (prefix) => name === prefix || name.startsWith(`${prefix}/`));
  const out = rule ? rule.mirrors.filter((m) => mirrorServes(m, ref)).map((m) => mirrorImage(ref, rule, m)) : [];
  if (!rule || rule.upstream) out.push(upstreamImage(ref, rule));
  return unblocked(out, `image ${formatReference(ref)}`, rule?.prefix, policy.blockUpstream, opts);
}

// The ordered candidates for a download URL: plain string prefix, user rules first, then longest wins.
export function resolveDownloadSources(
  url: string,
  policy: Pick<ResolvePolicy, 'downloads' | 'blockUpstream'>,
  opts: ResolveOptions = {},
): DownloadSource[] {
  const rule = longestMatch(policy.downloads, (prefix) => url.startsWith(prefix));
  const out: DownloadSource[] = (rule?.mirrors ?? []).map((m) => {
    const s: DownloadSource = {
      url: m.location + url.slice((rule?.prefix ?? '').length),
      via: 'mirror',
      rule: rule?.prefix,
      skipTLSVerify: m.skipTLSVerify,
    };
    if (m.certsPath !== undefined) s.certsPath = m.certsPath;
    return s;
  });
  if (!rule || rule.upstream)
    out.push({ url, via: 'upstream', ...(rule ? { rule: rule.prefix } : {}), skipTLSVerify: false });
  return unblocked(out, `download ${url}`, rule?.prefix, policy.blockUpstream, opts);
}

// Under blockUpstream only mirrors remain; none at all is refused with the rule's name (never a silent upstream).
function unblocked<S extends { via: 'mirror' | 'upstream' }>(
  sources: S[],
  what: string,
  prefix: string | undefined,
  block: string | undefined,
  opts: ResolveOptions,
): S[] {
  if (block === undefined) return sources;
  const mirrors = sources.filter((s) => s.via === 'mirror');
  if (mirrors.length > 0 || opts.optional) return mirrors;
  const why =
    prefix === undefined ? 'no mirror rule matches it' : `the rule for ${prefix} has no mirror that serves it`;
  throw new KkoError('UPSTREAM_BLOCKED', `${what}: refused by ${block}: ${why}`, {
    hint: `add a ${what.startsWith('image') ? 'registries' : 'downloads'} rule with a mirror for it to the mirror config; \`kko mirror list\` shows the rules`,
  });
}

// The reference a mirror serves for `ref`: prefix → location (prefix rewrite) or <location>/<last segment> (flatten).
export function rewriteReference(
  ref: Reference,
  prefix: string,
  location: string,
  rewrite: RegistryMirror['rewrite'],
): Reference {
  const name = `${ref.registry}/${ref.repository}`;
  const target = rewrite === 'flatten' ? `${location}/${repositoryName(ref)}` : location + name.slice(prefix.length);
  const slash = target.indexOf('/');
  if (slash < 0) {
    throw new KkoError(
      'INVALID_MIRROR_CONFIG',
      `mirror ${location} for prefix ${prefix}: rewriting ${name} leaves no repository name`,
      {
        hint: 'give the location a path, or use a prefix shorter than the whole repository',
      },
    );
  }
  const out: { registry: string; repository: string; tag?: string; digest?: string } = {
    registry: target.slice(0, slash),
    repository: target.slice(slash + 1),
  };
  if (ref.tag !== undefined) out.tag = ref.tag;
  if (ref.digest !== undefined) out.digest = ref.digest;
  return out;
}

// containers/image pull-from-mirror: digest-only mirrors only serve digest refs, tag-only only tag refs.
function mirrorServes(m: RegistryMirror, ref: Reference): boolean {
  if (m.pullFrom === 'digest-only') return ref.digest !== undefined;
  if (m.pullFrom === 'tag-only') return ref.digest === undefined;
  return true;
}

function mirrorImage(ref: Reference, rule: RegistryRule, m: RegistryMirror): ImageSource {
  const rewritten = rewriteReference(ref, rule.prefix, m.location, m.rewrite);
  return endpoint(rewritten, m, 'mirror', rule.prefix);
}

function upstreamImage(ref: Reference, rule?: RegistryRule): ImageSource {
  return endpoint(ref, rule ?? { plainHTTP: false, skipTLSVerify: false }, 'upstream', rule?.prefix);
}

function endpoint(
  ref: Reference,
  tls: Required<Pick<Host, 'plainHTTP' | 'skipTLSVerify'>> & Pick<Host, 'certsPath'>,
  via: ImageSource['via'],
  rule: string | undefined,
): ImageSource {
  const s: ImageSource = {
    registry: ref.registry,
    repository: ref.repository,
    ref,
    plainHTTP: tls.plainHTTP,
    skipTLSVerify: tls.skipTLSVerify,
    via,
  };
  if (tls.certsPath !== undefined) s.certsPath = tls.certsPath;
  if (rule !== undefined) s.rule = rule;
  return s;
}

// The user's rules are tried before the zone's: the longest matching user prefix, else the longest zone one.
function longestMatch<R extends { prefix: string; origin: RuleOrigin }>(
  rules: readonly R[],
  matches: (prefix: string) => boolean,
): R | undefined {
  let best: R | undefined;
  for (const r of rules) {
    if (!matches(r.prefix)) continue;
    if (best === undefined || outranks(r, best)) best = r;
  }
  return best;
}

// User rules outrank zone rules whatever their length; within one origin a longer prefix wins.
function outranks(a: { prefix: string; origin: RuleOrigin }, b: { prefix: string; origin: RuleOrigin }): boolean {
  if (a.origin !== b.origin) return a.origin === 'file';
  return a.prefix.length > b.prefix.length;
}
