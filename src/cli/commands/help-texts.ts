import { ZONES } from '../../mirror/zones.js';

// Help texts more than one command's flags share, written once.

// --zone: the built-in zones as ZONES lists them (a new zone shows up in every command's help).
export const ZONE_HELP = `mirror zone: ${ZONES.join(' | ')} (over $KKZONE)`;

// Where a command finds the kk release recorded (resolveKkVersion's `recorded`).
export const KK_IN_MANIFEST = "the manifests' spec.kko.kkVersion";
export const KK_IN_ARTIFACT = "the artifact's inventory (check -m: the manifests' spec.kko.kkVersion)";

// --kk-version: what it names, how to find yours, and what is taken without it (resolveKkVersion's order: the
// release `recorded`, else the installed kk, else the newest profile).
export function kkVersionHelp(recorded?: string): string {
  const first = recorded ? `${recorded}, else ` : '';
  return `the kk release that installs (yours: ./kk version); default: ${first}./kk or kk on PATH, else the newest kko knows`;
}
