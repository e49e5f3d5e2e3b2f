/**
 * Evolve: the pure step that applies a decision to the working state, and what closes a
 * snapshot's history. The pass runs these for every decision it applies; the given/when/then
 * harness (test/support/given.ts) drives the same steps, so it cannot drift from the pass.
 */
import type { Change, Image } from '../../projections';
import { stateKey } from './layout';
import type { WorkingState } from './state';

/** An entity a pass touched, and its image before the pass (undefined: it did not exist then). */
export interface Touched {
  readonly entity: string;
  readonly key: string;
  readonly image: Image | undefined;
}

/**
 * Applies a decision's `changes` to `state`, in order. `before` keeps, per entity the pass
 * touched (by its store key), the image it had before the pass's first change to it: the net
 * changes, the history and the digest come from it. `seen`, when given, is told each change
 * with the image it replaced (explain records them).
 */
export const applyDecision = (
  state: WorkingState,
  changes: readonly Change[],
  before: Map<string, Touched>,
  seen?: (change: Change, was: Image | undefined) => void,
): void => {
  for (const c of changes) {
    const k = stateKey(c.entity, c.key);
    const was = state.get(c.entity, c.key);
    if (!before.has(k)) before.set(k, { entity: c.entity, key: c.key, image: was });
    seen?.(c, was);
    state.apply(c);
  }
};

/**
 * Records the net image a touched entity has at snapshot `ts` as a version in its history
 * (null: deleted), when its entity is versioned; says whether it did. Call it only for an
 * entity whose image changed over the snapshot.
 */
export const recordVersion = (state: WorkingState, versioned: ReadonlySet<string>, t: Touched, ts: bigint): boolean => {
  if (!versioned.has(t.entity)) return false;
  state.addVersion(t.entity, t.key, ts, state.get(t.entity, t.key) ?? null);
  return true;
};

/** How far a snapshot at `ts` compacts the history when its decisions ask for `compactTo`: never at or above `ts`, whose own versions it writes. */
export const compactionFrontier = (compactTo: bigint, ts: bigint): bigint => (compactTo < ts ? compactTo : ts - 1n);

const sameImage = (a: Image | undefined, b: Image | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Closes a snapshot at `ts` in memory as the pass does: each versioned entity whose image the
 * snapshot changed gets a version, then the history is compacted to `compactTo`, if asked.
 */
export const closeSnapshot = (state: WorkingState, before: ReadonlyMap<string, Touched>, versioned: ReadonlySet<string>, ts: bigint, compactTo: bigint | undefined): void => {
  for (const t of before.values()) if (!sameImage(state.get(t.entity, t.key), t.image)) recordVersion(state, versioned, t, ts);
  if (compactTo !== undefined) state.compact(compactionFrontier(compactTo, ts));
};
