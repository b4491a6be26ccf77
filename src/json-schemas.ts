import { z } from 'zod';
import { inventorySchema } from './artifact-format/inventory.js';
import { strictManifestSchema } from './manifest/schema.js';
import { lockSchema } from './export/lock-schema.js';
import { mirrorPolicySchema } from './mirror/schema.js';
import {
  INVENTORY_SCHEMA_FILE,
  MANIFEST_LOCK_SCHEMA_FILE,
  MANIFEST_SCHEMA_FILE,
  MIRROR_POLICY_SCHEMA_FILE,
  schemaUrl,
} from './schema-url.js';

export {
  INVENTORY_SCHEMA_FILE,
  MANIFEST_LOCK_SCHEMA_FILE,
  MANIFEST_SCHEMA_FILE,
  MIRROR_POLICY_SCHEMA_FILE,
  manifestSchemaComment,
  schemaUrl,
} from './schema-url.js';

// The JSON Schemas kko ships in schema/ (npm package), generated from the zod schemas at build
// (scripts/write-schemas.js) and kept equal to them by a drift test. Editors use them through the
// `# yaml-language-server: $schema=<url>` comment that `manifest create` writes.

// file name → JSON Schema document. Strict manifest schema: unknown fields are flagged (kk ignores them, kko warns).
export function jsonSchemas(): Record<string, unknown> {
  return {
    [MANIFEST_SCHEMA_FILE]: document(
      strictManifestSchema,
      MANIFEST_SCHEMA_FILE,
      "KubeKey v1alpha2 Manifest (with kko's spec.kko record)",
    ),
    [MIRROR_POLICY_SCHEMA_FILE]: document(
      mirrorPolicySchema,
      MIRROR_POLICY_SCHEMA_FILE,
      'kko MirrorPolicy (--mirror-config)',
    ),
    [MANIFEST_LOCK_SCHEMA_FILE]: document(
      lockSchema,
      MANIFEST_LOCK_SCHEMA_FILE,
      'kko ManifestLock (`kko manifest lock`, MANIFEST.lock.json)',
    ),
    [INVENTORY_SCHEMA_FILE]: document(
      inventorySchema,
      INVENTORY_SCHEMA_FILE,
      'kko ArtifactInventory (kko/inventory.json in an artifact)',
    ),
  };
}

// What a user writes (io: input): fields with defaults are optional.
function document(schema: z.ZodType, file: string, title: string): unknown {
  const { $schema, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return { $schema, $id: schemaUrl(file), title, ...rest };
}

// The text of a schema file: 2-space JSON and a trailing newline (byte-stable, for the drift test).
export function jsonSchemaText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
