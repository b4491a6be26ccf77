// The files kko ships (the pre-parsed catalog, the zone files, the zstd WebAssembly), when the running program
// carries them itself: the standalone executable (src/cli/standalone.ts, built by scripts/build-standalone.js)
// registers a reader of its embedded assets before anything loads. Elsewhere nothing is registered and every
// shipped file is read from the package folder as usual.
//
// Keys are the files' paths in the package: 'dist/catalog.bundle.json', 'catalog/zones/cn.yaml', 'zstd.wasm'.
export type EmbeddedReader = (key: string) => Uint8Array | undefined;

let reader: EmbeddedReader | undefined;

export function useEmbeddedFiles(read: EmbeddedReader | undefined): void {
  reader = read;
}

// The bytes of an embedded file, or undefined when kko runs from its package folder (or the file is not embedded).
export function embeddedFile(key: string): Uint8Array | undefined {
  return reader?.(key);
}
