import type { Issue } from '../errors.js';

export const NODE_CONFIG_FORMATS = ['containerd', 'docker', 'registries.conf', 'kk'] as const;
export type NodeConfigFormat = (typeof NODE_CONFIG_FORMATS)[number];

// A file to write, relative to the output directory; text is the exact bytes (UTF-8).
export type RenderedFile = { readonly path: string; readonly text: string };
export type RenderedConfig = { readonly files: readonly RenderedFile[]; readonly issues: readonly Issue[] };
