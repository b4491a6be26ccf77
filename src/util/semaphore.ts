// A counting semaphore: at most `limit` holders; the rest wait, the highest `priority` first, FIFO among equals
// (export hands its blob slots to the largest blob waiting: longest-processing-time order).
export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: Array<{ priority: number; wake: () => void }> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  // Resolves with a release function once a slot is free. Calling release twice is harmless.
  async acquire(priority = 0): Promise<() => void> {
    if (this.#active >= this.#limit) {
      await new Promise<void>((wake) => {
        // After the last waiter of at least this priority: FIFO among equals, higher ones first.
        let i = this.#waiting.length;
        while (i > 0 && (this.#waiting[i - 1] as { priority: number }).priority < priority) i--;
        this.#waiting.splice(i, 0, { priority, wake });
      });
    } else this.#active++;
    return this.#release();
  }

  // A slot now if one is free (no waiter is passed over: there are waiters only when every slot is taken), else
  // undefined.
  tryAcquire(): (() => void) | undefined {
    if (this.#active >= this.#limit) return undefined;
    this.#active++;
    return this.#release();
  }

  // The release function of one held slot: hands it to the next waiter, else frees it; a second call does nothing.
  #release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next.wake();
      else this.#active--;
    };
  }

  // Holders right now (for tests and diagnostics).
  get active(): number {
    return this.#active;
  }
}
