import { describe, expect, it } from 'vitest';
import { abortableSleep, backoffDelay, parseRetryAfter } from './retry.js';

describe('backoffDelay', () => {
  const opts = (random: number) => ({ baseDelayMs: 100, maxDelayMs: 1000, random: () => random });
  it.each([
    [0, 0, 50],
    [0, 1, 100],
    [1, 0.5, 150],
    [3, 0, 400],
    [3, 1, 800],
    [10, 0, 500], // capped at maxDelayMs: half fixed
    [10, 1, 1000],
  ])('attempt %i, random %f → %i ms', (attempt, random, want) => {
    expect(backoffDelay(attempt, opts(random))).toBe(want);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  it.each([
    ['0', 0],
    ['7', 7000],
    [' 120 ', 120_000],
    ['Sun, 01 Jun 2025 12:00:30 GMT', 30_000], // IMF-fixdate
    ['Sunday, 01-Jun-25 12:01:00 GMT', 60_000], // RFC 850
    ['Sun, 01 Jun 2025 11:00:00 GMT', 0], // in the past: no wait
  ])('%s → %i ms', (value, want) => {
    expect(parseRetryAfter(value, now)).toBe(want);
  });

  it.each([[null], [undefined], [''], ['-5'], ['1.5'], ['soon'], ['5s']])('%s → undefined', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('abortableSleep', () => {
  it('rejects with the abort reason', async () => {
    const ac = new AbortController();
    const p = abortableSleep(10_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
