/**
 * Reads: the working snapshot for read-your-writes, or with `asOf` the state at an earlier
 * snapshot from the history. History below the compaction frontier is gone, and a read there
 * is refused with the frontier in the message.
 */
import { each, READ_HOLD, settingsOf, shown } from './model';
import { LOGICAL_BITS } from './system/hybrid';
import { accept, reject, reply, unwrap, type Decision, type Entity, type Handler, type Image, type PassContext, type Payload, type Stage, type StateView } from './types';

/** The state a read sees, now or as of an earlier snapshot; read through an `Entity<I>`, an image is an `I`. */
export type ReadView = Pick<StateView, 'get' | 'list'>;

/**
 * The oldest hybrid timestamp still readable `asOf` at log time `nowMs`: `historyRetentionMs`
 * back, or the oldest live read hold if that is older, and never below where it stood when the
 * settings last changed. It never goes back: a hold can only be taken at or above it, and the
 * other terms only rise with the log's clock.
 */
export const compactionFrontier = (state: StateView, nowMs: number): bigint => {
  const settings = settingsOf(state);
  const retention = BigInt(Math.max(0, nowMs - settings.historyRetentionMs)) << LOGICAL_BITS;
  const held = each(state, READ_HOLD)
    .filter((h) => h.expiresAtMs > nowMs)
    .reduce((m, h) => (BigInt(h.ts) < m ? BigInt(h.ts) : m), retention);
  const floor = BigInt(settings.frontierFloorTs);
  return held > floor ? held : floor;
};

/** A view at `asOfTs` (null: now), or the refusal to send instead. */
export const readAt = (state: StateView, ctx: PassContext, asOfTs: bigint | null): { view: ReadView } | { refused: Decision } => {
  if (asOfTs === null || asOfTs === ctx.snapshotTs) return { view: state };
  if (asOfTs > ctx.snapshotTs)
    return { refused: reject('INVALID_ARGUMENT', `asOf ${asOfTs} is after the snapshot being applied (${ctx.snapshotTs}); a read cannot see the future`) };
  const frontier = compactionFrontier(state, ctx.logTimeMs);
  if (asOfTs < frontier)
    return {
      refused: reject(
        'FAILED_PRECONDITION',
        `asOf ${asOfTs} is below the compaction frontier ${frontier}: that history is gone; read at or after ${frontier}, or take a read hold before reading the past`,
      ),
    };
  return { view: { get: (entity, key) => state.getAt(entity, key, asOfTs), list: (entity) => state.listAt(entity, asOfTs) } };
};

/** A read's `asOfTs`, as every Get and List of schemas/ declares it. */
type AsOf = { readonly long: bigint } | null;

/** A Get of one entity by name, now or `asOf`: its payload, or NOT_FOUND naming `what`. */
export const getHandler = <I extends Image>(stage: Stage, entity: Entity<I>, what: string, payload: (image: I) => Payload): Handler<{ readonly name: string; readonly asOfTs: AsOf }> => ({
  stage,
  reads: (v) => [[entity, v.name]],
  decide: (msg, state, ctx) => {
    const at = readAt(state, ctx, unwrap(msg.value.asOfTs));
    if ('refused' in at) return at.refused;
    const found = at.view.get(entity, msg.value.name);
    return found === undefined ? reject('NOT_FOUND', `${what} ${shown(msg.value.name)} does not exist`) : accept([], reply('OK', '', payload(found)));
  },
});

/** A List, now or `asOf`: the images `keep` lets through, in key order, as one `listType` payload under `field`. */
export const listHandler = <I extends Image, V extends { readonly asOfTs: AsOf }>(
  stage: Stage,
  entity: Entity<I>,
  plural: string,
  listType: string,
  field: string,
  payload: (image: I) => Payload,
  keep: (image: I, request: V) => boolean = () => true,
): Handler<V> => ({
  stage,
  decide: (msg, state, ctx) => {
    const at = readAt(state, ctx, unwrap(msg.value.asOfTs));
    if ('refused' in at) return at.refused;
    const items = [...at.view.list(entity)].map(([, i]) => i).filter((i) => keep(i, msg.value));
    return accept([], reply('OK', `${items.length} ${plural}`, { type: listType, value: { [field]: items.map((i) => payload(i).value) } }));
  },
});
