/**
 * Placement and slot allocation (README "The domain, and its policies"). A source fragment runs on the worker that hosts
 * its physical source; the sink fragment on the least-loaded worker. Each fragment takes one
 * slot: first one cached for the query's session on that worker, then a free one, then one
 * another session keeps cached there (idle slots are reclaimed before anyone is refused).
 * The global `maxAllocations` counts slots in use and cached alike.
 */
import type { Draft } from '../draft';
import {
  ALLOCATION,
  each,
  PHYSICAL_SOURCE,
  placeable,
  settingsOf,
  WORKER,
  type AllocationImage,
  type FragmentImage,
  type QueryImage,
  type WorkerImage,
} from '../model';
import { nextId, takeIds } from '../system/allocators';
import type { Status } from '../types';

export interface Placed {
  readonly ok: true;
  readonly fragments: FragmentImage[];
  readonly reused: number;
}

export interface Refused {
  readonly ok: false;
  readonly status: Extract<Status, 'FAILED_PRECONDITION' | 'RESOURCE_EXHAUSTED'>;
  readonly message: string;
}

const cached = (a: AllocationImage): boolean => a.cachedUntilMs !== null;

/** The oldest cached allocation matching `where`, the first to reclaim. */
const oldestCached = (allocations: readonly AllocationImage[], where: (a: AllocationImage) => boolean): AllocationImage | undefined =>
  allocations
    .filter((a) => cached(a) && where(a))
    .sort((a, b) => (a.cachedUntilMs as number) - (b.cachedUntilMs as number) || (a.allocationId < b.allocationId ? -1 : 1))[0];

/**
 * Writes the allocations of a start of `q` into `draft` and returns its fragments, or says why
 * it cannot start; on a refusal the draft is left as it was given.
 */
export const place = (draft: Draft, q: QueryImage): Placed | Refused => {
  const settings = settingsOf(draft);
  const workers = new Map(each(draft, WORKER).map((w) => [w.workerId, w]));
  const physical = each(draft, PHYSICAL_SOURCE);

  // Where each fragment must run: sources pinned to their physical source's worker.
  const wanted: { kind: 'SOURCE' | 'SINK'; workerId: string | null; physicalSource: string | null }[] = [];
  for (const source of q.sources) {
    const usable = physical.filter((p) => {
      const on = workers.get(p.workerId);
      return p.logicalSource === source && p.available && on !== undefined && placeable(on);
    });
    if (usable.length === 0)
      return { ok: false, status: 'FAILED_PRECONDITION', message: `logical source ${source} has no physical source on an ACTIVE worker; create one with 'coordctl physical-source create'` };
    for (const p of usable) wanted.push({ kind: 'SOURCE', workerId: p.workerId, physicalSource: p.name });
  }
  wanted.push({ kind: 'SINK', workerId: null, physicalSource: null });

  let allocations = each(draft, ALLOCATION);
  // Slots taken per worker, kept as the placement goes: counting them afresh for every comparison would scan every allocation.
  const used = new Map<string, number>();
  for (const a of allocations) used.set(a.workerId, (used.get(a.workerId) ?? 0) + 1);
  const take = (workerId: string, n: number): void => void used.set(workerId, (used.get(workerId) ?? 0) + n);
  const free = (w: WorkerImage): number => w.slots - (used.get(w.workerId) ?? 0);
  const mineOn = (workerId: string): AllocationImage | undefined =>
    oldestCached(allocations, (a) => a.workerId === workerId && q.session !== null && a.session === q.session);

  // Every deployment gets an id of its own, so no report of an earlier one can touch it.
  const deployment = nextId(draft);
  const fragments: FragmentImage[] = [];
  let reused = 0;
  for (const [i, want] of wanted.entries()) {
    let workerId = want.workerId;
    if (workerId === null) {
      // The sink: where the session keeps a slot, else the worker with the most free slots.
      const candidates = [...workers.values()].filter(placeable);
      const withCache = candidates.find((w) => mineOn(w.workerId) !== undefined);
      const least = candidates.sort((a, b) => free(b) - free(a) || (a.workerId < b.workerId ? -1 : 1))[0];
      const chosen = withCache ?? least;
      if (chosen === undefined) return { ok: false, status: 'RESOURCE_EXHAUSTED', message: `no ACTIVE worker to run the sink of query ${q.name}` };
      workerId = chosen.workerId;
    }
    const worker = workers.get(workerId);
    // Every wanted worker was found among the registered ones above; a refusal, not a throw, should that ever change.
    if (worker === undefined) return { ok: false, status: 'FAILED_PRECONDITION', message: `worker ${workerId} is not registered` };
    const fragmentId = `${q.name}#${deployment}-${i}`;
    let allocationId: string;
    const mine = mineOn(workerId);
    if (mine !== undefined) {
      allocationId = mine.allocationId;
      reused++;
    } else {
      if (free(worker) <= 0) {
        const reclaim = oldestCached(allocations, (a) => a.workerId === workerId);
        if (reclaim === undefined)
          return { ok: false, status: 'RESOURCE_EXHAUSTED', message: `worker ${workerId} has no free slot for ${fragmentId}: all ${worker.slots} slots are in use` };
        allocations = allocations.filter((a) => a !== reclaim);
        take(reclaim.workerId, -1);
      }
      if (allocations.length >= settings.maxAllocations) {
        const reclaim = oldestCached(allocations, () => true);
        if (reclaim === undefined)
          return { ok: false, status: 'RESOURCE_EXHAUSTED', message: `the deployment holds maxAllocations ${settings.maxAllocations} slots; stop a query or raise maxAllocations` };
        allocations = allocations.filter((a) => a !== reclaim);
        take(reclaim.workerId, -1);
      }
      allocationId = `slot-${deployment}-${i}`;
      take(workerId, 1);
    }
    const allocation: AllocationImage = { allocationId, workerId, session: q.session, fragmentId, cachedUntilMs: null, releaseTo: null };
    allocations = [...allocations.filter((a) => a.allocationId !== allocationId), allocation];
    fragments.push({ fragmentId, kind: want.kind, workerId, physicalSource: want.physicalSource, allocation: allocationId, status: 'DEPLOYING' });
  }

  // Only now that every fragment has its slot: the deployment id is taken, the reclaimed go, the taken are written.
  takeIds(draft, 1);
  const kept = new Set(allocations.map((a) => a.allocationId));
  for (const a of each(draft, ALLOCATION)) if (!kept.has(a.allocationId)) draft.delete(ALLOCATION, a.allocationId);
  for (const a of allocations) if (a.fragmentId !== null && fragments.some((f) => f.allocation === a.allocationId)) draft.put(ALLOCATION, a.allocationId, a);
  return { ok: true, fragments, reused };
};
