/** How the pass shows its explain records to the ExplainRequest decider: a read-only overlay of the working state. */
import type { Entity, Image, StateView } from '../../projections';
import { EXPLANATION, type LogPosition } from '../../projections/system/explain';
import type { Envelope, RawRecord } from './decode';
import type { ExplainBook } from './explain';

export const positionOf = (raw: Pick<RawRecord, 'topic' | 'partition' | 'offset'>, logTimeMs: number, snapshotId: bigint): LogPosition => ({
  topic: raw.topic,
  partition: raw.partition,
  offset: raw.offset,
  logTimeMs,
  snapshotId: snapshotId.toString(),
});

/**
 * The state, plus under EXPLANATION the records of the ids this pass's ExplainRequests ask
 * about, as they stood before the pass (read once, ahead of deciding).
 */
export const explainOverlay = async (state: StateView, envelopes: readonly Envelope[], book: ExplainBook | undefined): Promise<StateView> => {
  const asked = envelopes.flatMap((e) => (e.type === 'coord.v1.ExplainRequest' && typeof e.value.correlationId === 'string' ? [e.value.correlationId] : []));
  if (asked.length === 0) return state;
  const found: ReadonlyMap<string, Image> = book === undefined ? new Map() : await book.lookup([...new Set(asked)]);
  return {
    // Under EXPLANATION the images are explain records (projections/system/explain.ts reads them as such).
    get: <I extends Image>(entity: Entity<I>, key: string): I | undefined => (entity === EXPLANATION ? (found.get(key) as I | undefined) : state.get(entity, key)),
    list: (entity) => (entity === EXPLANATION ? [] : state.list(entity)),
    getAt: (entity, key, at) => state.getAt(entity, key, at),
    listAt: (entity, at) => state.listAt(entity, at),
  };
};
