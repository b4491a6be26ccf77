#!/usr/bin/env node
// Build step (after tsc): write schema/*.json from the compiled zod schemas (dist/json-schemas.js).
// The files are committed too; src/json-schemas.test.ts fails when they drift from the zod schemas.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../schema/', import.meta.url));
const { jsonSchemas, jsonSchemaText } = await import(new URL('../dist/json-schemas.js', import.meta.url).href);
await mkdir(dir, { recursive: true });
for (const [file, value] of Object.entries(jsonSchemas())) await writeFile(join(dir, file), jsonSchemaText(value));
