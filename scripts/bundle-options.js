// The rolldown options of kko's two bundles of the compiled CLI (both read dist/, after tsc):
// - 'cli': dist/bundle/, ES modules split at the actions' import()s, that bin/kko.js runs (scripts/build-bundle.js);
// - 'standalone': one CommonJS script for the single executable (scripts/build-standalone.js).
// What differs between them is decided here, in one place: the entry, the format, and the zstd WebAssembly.
import { join } from 'node:path';

// @bokuweb/zstd-wasm reads zstd.wasm next to its own file, through the CommonJS `__dirname`.
const ZSTD_WASM_ID = /[\\/]@bokuweb[\\/]zstd-wasm[\\/]dist[\\/]common[\\/]index\.node\.js$/;
const WASM_READ = "readFile(resolve(__dirname, './zstd.wasm'))";

// In the executable there is no file beside it: the read is replaced with the embedded asset (src/util/embedded.ts).
// The build fails if the library's code changes shape.
function zstdWasmFromAssets(embeddedJs) {
  return {
    name: 'kko-zstd-wasm-from-assets',
    transform(code, id) {
      if (!ZSTD_WASM_ID.test(id)) return null;
      if (!code.includes(WASM_READ))
        this.error(`${id}: "${WASM_READ}" not found; the zstd-wasm release changed, update scripts/bundle-options.js`);
      const embedded = `require(${JSON.stringify(embeddedJs)}).embeddedFile('zstd.wasm')`;
      return { code: code.replace(WASM_READ, `(${embedded} ?? ${WASM_READ})`), map: null };
    },
  };
}

/**
 * @param {string} root the package root
 * @param {'cli' | 'standalone'} target
 * @returns {import('rolldown').BuildOptions} without the output's file or dir
 */
export function bundleOptions(root, target) {
  const dist = join(root, 'dist');
  const common = { platform: 'node', logLevel: 'warn' };
  if (target === 'standalone') {
    return {
      ...common,
      input: join(dist, 'cli', 'standalone.js'),
      plugins: [zstdWasmFromAssets(join(dist, 'util', 'embedded.js'))],
      // No module file exists inside the executable: every import.meta.url names one place in a virtual package
      // root, at the depth of dist/<folder>/<file>.js, so ../../catalog/ and ../catalog.bundle.json keep their meaning.
      transform: { define: { 'import.meta.url': JSON.stringify('file:///kko-standalone/dist/cli/main.js') } },
      // A single executable runs one CommonJS file: the lazy import()s are inlined (still run only when used).
      output: { format: 'cjs', codeSplitting: false, comments: { legal: false } },
    };
  }
  return {
    ...common,
    input: { kko: join(dist, 'cli', 'main.js') },
    // Loaded from node_modules as it is (only for zstd), so it finds zstd.wasm beside it: an ES module has no
    // __dirname for the library's read.
    external: ['@bokuweb/zstd-wasm'],
    output: {
      format: 'esm',
      // Chunks are split where the actions are import()ed, so `kko --version` loads no action's code. The chunks
      // sit in dist/bundle/, at the depth of dist/<folder>/<file>.js, so import.meta.url keeps its meaning.
      entryFileNames: '[name].mjs',
      chunkFileNames: '[name]-[hash].mjs',
      // Stack traces map back to dist/<folder>/<file>.js (bin/kko.js turns source maps on); the sources are in the
      // package, so the maps need not carry them.
      sourcemap: true,
      sourcemapExcludeSources: true,
      comments: { legal: false },
    },
  };
}
