import { resolve as resolvePath } from 'node:path';
import { KkoError } from '../errors.js';
import { quoteValue } from '../util/safe-text.js';
import { BUILTIN_ZONES_DIR, loadPolicyFile, loadZonePolicy } from './load.js';
import { isZone, ZONES, type DownloadRule, type RegistryRule, type Zone } from './schema.js';

// Where a setting came from, highest precedence first.
export type SettingSource = 'flag' | 'env' | 'file' | 'default';

// The policy in effect: zone, mirror file, why each was chosen, and the merged rules (user's first).
export type EffectivePolicy = {
  zone: Zone;
  configFile?: string;
  sources: { zone: SettingSource; configFile: SettingSource };
  zoneFile: string;
  registries: RegistryRule[];
  downloads: DownloadRule[];
  blockUpstream?: string; // "blockUpstream: true in <file>" when the catch-all rule is on
};

export type LoadMirrorPolicyOptions = {
  zone?: string; // --zone
  configFile?: string; // --mirror-config
  env: NodeJS.ProcessEnv; // KKZONE, KKO_MIRROR_CONFIG
  cwd?: string; // relative config paths resolve against this (default: the process's)
  zonesDir?: string; // built-in zone files (tests)
};

export const ZONE_ENV = 'KKZONE';
export const CONFIG_ENV = 'KKO_MIRROR_CONFIG';

// Apply precedence (flag > env > file > default), load the mirror file and the zone, and merge their rules.
export async function loadMirrorPolicy(opts: LoadMirrorPolicyOptions): Promise<EffectivePolicy> {
  pickZone(opts.zone, opts.env[ZONE_ENV], undefined); // a bad --zone or KKZONE fails before any file is read
  const config = pickConfigFile(opts);
  const user = config.file === undefined ? undefined : await loadPolicyFile(config.file, 'file');
  const zone = pickZone(opts.zone, opts.env[ZONE_ENV], user?.zone);
  const zoneRules = await loadZonePolicy(zone.zone, opts.zonesDir ?? BUILTIN_ZONES_DIR);
  const policy: EffectivePolicy = {
    zone: zone.zone,
    sources: { zone: zone.source, configFile: config.source },
    zoneFile: zoneRules.file,
    registries: mergeRules(user?.registries ?? [], zoneRules.registries),
    downloads: mergeRules(user?.downloads ?? [], zoneRules.downloads),
  };
  if (config.file !== undefined) policy.configFile = config.file;
  const blocking = [user, zoneRules].find((p) => p?.blockUpstream);
  if (blocking) policy.blockUpstream = `blockUpstream: true in ${blocking.file}`;
  return policy;
}

// The mirror file: --mirror-config, else $KKO_MIRROR_CONFIG, else none ('default').
export function pickConfigFile(opts: Pick<LoadMirrorPolicyOptions, 'configFile' | 'env' | 'cwd'>): {
  file?: string;
  source: SettingSource;
} {
  const fromFlag = nonEmpty(opts.configFile);
  const fromEnv = nonEmpty(opts.env[CONFIG_ENV]);
  const file = fromFlag ?? fromEnv;
  if (file === undefined) return { source: 'default' };
  return { file: opts.cwd ? resolvePath(opts.cwd, file) : file, source: fromFlag !== undefined ? 'flag' : 'env' };
}

// The zone: --zone, else KKZONE (cn or default; empty = unset), else the file's `zone:`, else default.
export function pickZone(
  flag: string | undefined,
  env: string | undefined,
  fileZone: Zone | undefined,
): { zone: Zone; source: SettingSource } {
  if (flag !== undefined) {
    if (!isZone(flag))
      throw new KkoError('INVALID_INPUT', `--zone ${quoteValue(flag)}: unknown zone`, {
        hint: `use one of: ${ZONES.join(', ')}`,
      });
    return { zone: flag, source: 'flag' };
  }
  const kkzone = nonEmpty(env);
  if (kkzone !== undefined) {
    // kk only knows KKZONE=cn; anything but cn or default is almost certainly a typo that would silently mean "default".
    if (!isZone(kkzone))
      throw new KkoError('INVALID_INPUT', `${ZONE_ENV}=${quoteValue(kkzone)}: unknown zone`, {
        hint: `set ${ZONE_ENV}=cn or unset it`,
      });
    return { zone: kkzone, source: 'env' };
  }
  if (fileZone !== undefined) return { zone: fileZone, source: 'file' };
  return { zone: 'default', source: 'default' };
}

// User rules first; a zone rule (prefixes are normalised at load) with the same prefix is replaced by the user's.
export function mergeRules<R extends { prefix: string }>(user: readonly R[], zone: readonly R[]): R[] {
  const taken = new Set(user.map((r) => r.prefix));
  return [...user, ...zone.filter((r) => !taken.has(r.prefix))];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
