import { KkoError } from '../errors.js';
import type { Digest } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';

// image-spec descriptor.md: a typed, sized pointer to content.
export type Descriptor = {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly artifactType?: string;
};

// image-spec image-index.md "platform".
export type Platform = {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
};

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
};
const ARM_VARIANT_ALIASES: Readonly<Record<string, string>> = { armhf: 'v7', armel: 'v6' };

// containerd's platforms.Normalize: aliases folded, and the default variant made explicit (arm64 ≡ arm64/v8, arm ≡ arm/v7).
export function normalizePlatform(p: Platform): Platform {
  const rawArch = p.architecture.toLowerCase();
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() || ARM_VARIANT_ALIASES[rawArch];
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  if (variant !== undefined && /^\d+$/.test(variant)) variant = `v${variant}`;
  const out: { architecture: string; os: string; variant?: string } = { architecture, os: p.os.toLowerCase() };
  if (variant !== undefined) out.variant = variant;
  return out;
}

// True when `have` satisfies `want` on os, architecture and (normalized) variant. A `want` without a
// variant on an architecture that has no default variant matches every variant.
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  return w.variant === undefined || w.variant === h.variant;
}

// Parse "linux/arm64", "linux/arm/v7" or a bare architecture ("arm64" → linux/arm64).
export function parsePlatform(input: string): Platform {
  const parts = input.trim().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) {
    throw new KkoError('INVALID_INPUT', `invalid platform ${quoteValue(input)}: expected os/arch[/variant] or arch`);
  }
  const [os, architecture, variant] = parts.length === 1 ? ['linux', parts[0] as string] : parts;
  const out: { os: string; architecture: string; variant?: string } = {
    os: os as string,
    architecture: architecture as string,
  };
  if (variant !== undefined) out.variant = variant;
  return out;
}

// "linux/arm64/v8" form of a platform, as printed to users.
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}
