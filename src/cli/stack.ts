import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

// The bundled CLI's stack frames (dist/bundle/, scripts/build-bundle.js) name its chunks; each chunk has its source
// map beside it, and a frame gets back its place in dist/<folder>/<file>.js, as the unbundled CLI prints it. The maps
// are read only when an internal error is printed: Node's own source-map support (setSourceMapsEnabled) would read
// them on every start (about 25 ms of start-up).
const FRAME = /\b(file:\/\/\/[^\s()]+\.mjs):(\d+):(\d+)/g;

export function mapStack(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(FRAME, (frame, url: string, line: string, column: string) => {
    if (!maps.has(url)) maps.set(url, sourceMapOf(url));
    const origin = maps.get(url)?.findOrigin(Number(line), Number(column));
    if (!origin || !('fileName' in origin)) return frame;
    return `${new URL(origin.fileName, url).href}:${origin.lineNumber}:${origin.columnNumber}`;
  });
}

function sourceMapOf(url: string): SourceMap | undefined {
  try {
    return new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')));
  } catch {
    return undefined; // no map beside it: the frame stays as it is
  }
}
