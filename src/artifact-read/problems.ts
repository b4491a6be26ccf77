import type { Problem } from './types.js';

// Problems keyed by kind and path: the first report of a path wins (a tampered blob is named once, not per check).
export class ProblemList {
  readonly #byKey = new Map<string, Problem>();
  add(p: Problem): void {
    const key = `${p.kind}\0${p.path}`;
    if (!this.#byKey.has(key) && !(p.kind === 'corrupt' && this.#byKey.has(`missing\0${p.path}`)))
      this.#byKey.set(key, p);
  }
  // Sorted by path, then kind: stable output whatever order the checks ran in.
  sorted(): Problem[] {
    return [...this.#byKey.values()].sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0,
    );
  }
}
