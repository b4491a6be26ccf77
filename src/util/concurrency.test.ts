import { describe, expect, it } from 'vitest';
import { mapLimit } from './concurrency.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('mapLimit', () => {
  it('tries every item when more fail than there are workers, never more than `limit` at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const tried: number[] = [];
    const items = Array.from({ length: 32 }, (_, i) => i);
    const results = await mapLimit(items, 2, async (i) => {
      tried.push(i);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick();
      inFlight--;
      if (i % 3 !== 0) throw new Error(`item ${i}`);
      return i * 10;
    });
    expect(tried.sort((a, b) => a - b)).toEqual(items);
    expect(peak).toBe(2);
    expect(results.filter((r) => r?.status === 'rejected')).toHaveLength(21);
    expect(results[3]).toEqual({ status: 'fulfilled', value: 30 });
  });

  it('stopOnError: nothing new starts after the first failure', async () => {
    const tried: number[] = [];
    const results = await mapLimit(
      [0, 1, 2, 3, 4, 5],
      2,
      async (i) => {
        tried.push(i);
        await tick();
        if (i === 0) throw new Error('first');
      },
      { stopOnError: true },
    );
    expect(tried).toEqual([0, 1]);
    expect(results.slice(2)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('an abort stops everything, failures or not, and throws its reason', async () => {
    const ctrl = new AbortController();
    const tried: number[] = [];
    const run = mapLimit(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (i) => {
        tried.push(i);
        if (i === 4) ctrl.abort(new Error('interrupted'));
        await tick();
        throw new Error('failed');
      },
      { signal: ctrl.signal },
    );
    await expect(run).rejects.toThrow('interrupted');
    expect(tried.length).toBeLessThanOrEqual(7);
  });
});
