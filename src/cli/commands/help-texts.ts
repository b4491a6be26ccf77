import { ZONES } from '../../mirror/zones.js';

// Help texts more than one command's flags share, written once.

// --zone: the built-in zones as ZONES lists them (a new zone shows up in every command's help).
export const ZONE_HELP = `mirror zone: ${ZONES.join(' | ')} (over $KKZONE)`;
