import type { Logger } from '../log.js';
import type { Resolutions } from './carry.js';
import type { EffectivePolicy } from '../mirror/index.js';
import type { EventSink } from './events.js';
import type { FetchDeps } from './fetch-image.js';
import type { ExportPlan } from './plan.js';

// #12: steps an export runs after planning and before any layer is fetched: the lock check (lock.ts) and the image
// signature check (verify-images.ts). A step may refuse (throw), replace the plan (pin tags to digests), and add
// blobs (already in the cache) to the layout and one field to the inventory.
export type PreflightContext = {
  readonly plan: ExportPlan;
  readonly policy: EffectivePolicy;
  readonly deps: FetchDeps; // the run's clients, cache and blob slots: what a step fetches lands where the export reads
  readonly resolutions: Resolutions; // the run's one resolution per image × arch (the fetch takes them over)
  readonly concurrency: number;
  readonly emit: EventSink;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
};

export type PreflightResult = {
  plan?: ExportPlan;
  blobs?: ReadonlyArray<{ digest: string; size: number }>; // unreferenced by images/index.json, named by the inventory field
  inventory?: Readonly<Record<string, unknown>>;
};

export type PreflightStep = (ctx: PreflightContext) => Promise<PreflightResult>;

// What all steps gave: the plan to fetch, the extra blobs, the inventory fields.
export type PreflightOutcome = {
  plan: ExportPlan;
  blobs: Array<{ digest: string; size: number }>;
  inventory: Record<string, unknown>;
};

// Run the steps in order; each sees the plan the one before returned.
export async function runPreflight(steps: readonly PreflightStep[], ctx: PreflightContext): Promise<PreflightOutcome> {
  const out: PreflightOutcome = { plan: ctx.plan, blobs: [], inventory: {} };
  for (const step of steps) {
    ctx.signal?.throwIfAborted();
    const r = await step({ ...ctx, plan: out.plan });
    if (r.plan) out.plan = r.plan;
    out.blobs.push(...(r.blobs ?? []));
    Object.assign(out.inventory, r.inventory ?? {});
  }
  return out;
}
