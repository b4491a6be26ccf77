// Entry point of the standalone executable, a Node.js single executable application (scripts/build-standalone.js
// bundles this file into one CommonJS script and injects it into a copy of `node`): the files kko ships are read
// from the assets embedded in the executable, then the CLI runs as bin/kko.js runs it.
import { getAsset, isSea } from 'node:sea';
import { useEmbeddedFiles } from '../util/embedded.js';
import { main } from './main.js';

function asset(key: string): Uint8Array | undefined {
  try {
    return new Uint8Array(getAsset(key));
  } catch {
    return undefined; // not embedded
  }
}

if (isSea()) useEmbeddedFiles(asset);
// In a single executable argv[1] repeats the executable's path, as the script's path does under `node`.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
