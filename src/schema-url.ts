import { VERSION } from './version.js';

// The names and URLs of the JSON Schemas kko ships in schema/ (json-schemas.ts generates them). Apart from
// json-schemas.ts so that manifest/ can write the modeline without importing the schemas it is generated from.

// Where an editor finds a shipped schema: the npm package's file on unpkg, pinned to this kko version,
// so a manifest always points at the schema of the kko that wrote it (README: "Editor support").
export function schemaUrl(file: string, version: string = VERSION): string {
  return `https://unpkg.com/kko@${version}/schema/${file}`;
}

export const MANIFEST_SCHEMA_FILE = 'manifest.schema.json';
export const MIRROR_POLICY_SCHEMA_FILE = 'mirror-policy.schema.json';
export const INVENTORY_SCHEMA_FILE = 'inventory.schema.json';
export const MANIFEST_LOCK_SCHEMA_FILE = 'manifest-lock.schema.json';

// The yaml-language-server modeline for a manifest kko writes.
export function manifestSchemaComment(): string {
  return ` yaml-language-server: $schema=${schemaUrl(MANIFEST_SCHEMA_FILE)}`;
}
