import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  it('admits at most `limit` holders, FIFO, and tolerates double release', async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const order: number[] = [];
    const p3 = s.acquire().then((r) => (order.push(3), r));
    const p4 = s.acquire().then((r) => (order.push(4), r));
    expect(s.active).toBe(2);
    r1();
    r1();
    const r3 = await p3;
    expect(order).toEqual([3]);
    r2();
    await p4;
    expect(order).toEqual([3, 4]);
    r3();
    expect(s.active).toBe(1);
  });

  it('hands a freed slot to the highest priority waiting, FIFO among equals (largest blob first)', async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: string[] = [];
    const wait = (name: string, priority: number) => s.acquire(priority).then((r) => (order.push(name), r()));
    const all = [wait('small', 1), wait('big-a', 100), wait('mid', 50), wait('big-b', 100), wait('config', Infinity)];
    first();
    await Promise.all(all);
    expect(order).toEqual(['config', 'big-a', 'big-b', 'mid', 'small']);
  });

  it('tryAcquire takes a free slot at once and never one that is taken', async () => {
    const s = new Semaphore(1);
    const r = s.tryAcquire();
    expect(r).toBeDefined();
    expect(s.tryAcquire()).toBeUndefined();
    const waiting = s.acquire();
    r?.();
    (await waiting)();
    expect(s.active).toBe(0);
  });
});
