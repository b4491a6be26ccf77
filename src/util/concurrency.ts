// Run `fn` over `items` with at most `limit` in flight, in order of the list. A failing item never stops its
// worker: the next item is taken, so every item is tried (export --keep-going, precheck). With `stopOnError`,
// nothing new starts after the first failure. Once `signal` aborts nothing new starts, the ones in flight are
// awaited (they see the same signal) and the signal's reason is thrown.
// The result has one entry per item, in the items' order: its outcome, or undefined for an item never started.
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  opts: { stopOnError?: boolean; signal?: AbortSignal | undefined } = {},
): Promise<Array<PromiseSettledResult<R> | undefined>> {
  const results = new Array<PromiseSettledResult<R> | undefined>(items.length).fill(undefined);
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && !opts.signal?.aborted && next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i] as T, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
        if (opts.stopOnError) stopped = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(Math.floor(limit), items.length)) }, worker));
  opts.signal?.throwIfAborted();
  return results;
}

// mapLimit that stops at the first failure and throws it; else every result, in the items' order.
export async function mapLimitAll<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  opts: { signal?: AbortSignal | undefined } = {},
): Promise<R[]> {
  const settled = await mapLimit(items, limit, fn, { stopOnError: true, signal: opts.signal });
  const failed = settled.find((r): r is PromiseRejectedResult => r?.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<R>).value);
}
