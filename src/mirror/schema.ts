import { z } from 'zod';

// The MirrorPolicy file: the user's --mirror-config and the built-in zones (catalog/zones/*.yaml).
// Semantics follow containers/image registries.conf(5): a rule's `prefix` is rewritten to each mirror's
// `location`, mirrors are tried in order, then the upstream unless `upstream: false`.

import { ZONES, type Zone } from './zones.js';
export { ZONES, type Zone };

// host[:port] as in reference.ts (a dot, a port or "localhost" marks a registry host), then /path components.
const LABEL = String.raw`[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?`;
const PORT = String.raw`:\d{1,5}`;
const HOST = String.raw`(?:(?:localhost|\[[0-9a-fA-F:]+\]|${LABEL}(?:\.${LABEL})+)(?:${PORT})?|${LABEL}${PORT})`;
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
export const REGISTRY_PATH = new RegExp(`^${HOST}(?:/${COMPONENT})*$`);
const HTTP_URL = /^https?:\/\/[^\s/?#]+[^\s?#]*$/;

const registryPath = (what: string) =>
  z
    .string()
    .regex(
      REGISTRY_PATH,
      `${what} must be host[:port][/path] without a scheme (e.g. docker.io, docker.io/library, 127.0.0.1:5000/hub); use plainHTTP: true for http`,
    );
const httpUrl = (what: string) =>
  z
    .string()
    .regex(HTTP_URL, `${what} must be an http:// or https:// URL without query or fragment`)
    // Credentials in a URL end up in logs and errors (and undici refuses them); registries.auths is the place.
    .refine((u) => !/^https?:\/\/[^/]*@/i.test(u), `${what} must not carry credentials (user:password@)`);

// How a mirror's repository is derived from the upstream one.
export const REWRITES = ['prefix', 'flatten'] as const;
export type Rewrite = (typeof REWRITES)[number];

// containers/image pull-from-mirror: which references a mirror may serve.
export const PULL_FROM = ['all', 'digest-only', 'tag-only'] as const;
export type PullFrom = (typeof PULL_FROM)[number];

// TLS settings of one endpoint, named as in kk's registry.auths.
const tls = {
  plainHTTP: z.boolean().default(false),
  skipTLSVerify: z.boolean().default(false),
  certsPath: z.string().min(1).optional(),
};

const registryMirror = z.strictObject({
  location: registryPath('location'),
  rewrite: z.enum(REWRITES).default('prefix'),
  pullFrom: z.enum(PULL_FROM).default('all'),
  ...tls,
});

const registryRule = z.strictObject({
  prefix: registryPath('prefix'),
  mirrors: z.array(registryMirror).default([]),
  upstream: z.boolean().default(true),
  // TLS of the upstream itself (e.g. a plain-HTTP registry on the build host).
  ...tls,
});

const downloadMirror = z.strictObject({
  location: httpUrl('location'),
  skipTLSVerify: z.boolean().default(false),
  certsPath: z.string().min(1).optional(),
});

const downloadRule = z.strictObject({
  prefix: httpUrl('prefix'),
  mirrors: z.array(downloadMirror).default([]),
  upstream: z.boolean().default(true),
});

export const mirrorPolicySchema = z.strictObject({
  apiVersion: z.literal('kko.io/v1alpha1'),
  kind: z.literal('MirrorPolicy'),
  zone: z.enum(ZONES).optional(),
  // The catch-all rule: never go upstream. Every image and file must come from a configured mirror; anything
  // else is refused (UPSTREAM_BLOCKED) naming this rule. For air-gapped build hosts.
  blockUpstream: z.boolean().default(false),
  registries: z.array(registryRule).default([]),
  downloads: z.array(downloadRule).default([]),
});

export type MirrorPolicyFile = z.infer<typeof mirrorPolicySchema>;
export type RegistryMirror = z.infer<typeof registryMirror>;
export type DownloadMirror = z.infer<typeof downloadMirror>;

// Where a merged rule came from: the user's file or the zone's built-in file.
export type RuleOrigin = 'file' | 'zone';

// What the resolvers read of a policy; `blockUpstream` names the catch-all rule when it is on.
export type ResolvePolicy = {
  registries: readonly RegistryRule[];
  downloads: readonly DownloadRule[];
  blockUpstream?: string;
};

export type RegistryRule = z.infer<typeof registryRule> & { origin: RuleOrigin };
export type DownloadRule = z.infer<typeof downloadRule> & { origin: RuleOrigin };

// True for the zones kko ships (catalog/zones/<zone>.yaml).
export function isZone(value: string): value is Zone {
  return (ZONES as readonly string[]).includes(value);
}
