// The built-in mirror zones (catalog/zones/<zone>.yaml); a module of its own, without the schema, so that the CLI's
// command definitions can name them without loading zod (src/cli/commands are loaded on every start).
export const ZONES = ['default', 'cn'] as const;
export type Zone = (typeof ZONES)[number];
