// A counting semaphore: at most `limit` holders; the rest wait in FIFO order.
export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  // Resolves with a release function once a slot is free. Calling release twice is harmless.
  async acquire(): Promise<() => void> {
    if (this.#active >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    };
  }

  // Holders right now (for tests and diagnostics).
  get active(): number {
    return this.#active;
  }
}
