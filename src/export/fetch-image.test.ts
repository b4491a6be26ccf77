import { describe, expect, it } from 'vitest';
import type { Descriptor } from '../oci/index.js';
import type { Digest } from '../reference/index.js';
import { Semaphore } from '../registry/index.js';
import { blobPriority, TAIL_BLOB_BYTES } from './fetch-image.js';

const MiB = 1024 * 1024;
const blob = (hex: string, size: number): Descriptor => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${hex.padEnd(64, '0')}` as Digest,
  size,
});

describe('blobPriority (#10: the order the blob slots are handed out in)', () => {
  it('the large layers by size first (LPT), then the tail below TAIL_BLOB_BYTES in the archive order (by digest)', async () => {
    const blobs = [
      blob('f1', 1000),
      blob('0a', 1 * MiB),
      blob('c3', TAIL_BLOB_BYTES),
      blob('77', 20 * MiB),
      blob('00', 5),
      blob('ab', 8 * MiB),
      blob('0b', TAIL_BLOB_BYTES - 1),
    ];
    // Through the export's semaphore: one slot taken, the rest wait and are woken in priority order.
    const slots = new Semaphore(1);
    const hold = await slots.acquire();
    const order: string[] = [];
    const waits = blobs.map(async (b) => {
      const release = await slots.acquire(blobPriority(b));
      order.push(b.digest.slice(7, 9));
      release();
    });
    hold();
    await Promise.all(waits);
    expect(order).toEqual(['77', 'ab', 'c3', '00', '0a', '0b', 'f1']);
  });
});
