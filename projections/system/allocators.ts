/**
 * The id allocator and the timestamp oracle. Their high-water marks are state, written in the
 * same snapshot as the reply, so a range is never handed out twice: not after kill -9, not
 * after a restart, not in a replay. The pass takes every snapshot's timestamp from the same
 * oracle (`oracleHighWater`), so snapshots and allocated timestamps share one order.
 */
import { ORACLE } from '../model';
import type { Draft } from '../draft';
import type { AllocIds, AllocTimestamps, IdRange, TimestampRange } from '../protocol.gen';
import { accept, reject, reply, type Decision, type Handler, type StateView } from '../types';

export const MAX_IDS = 1_000_000;
export const MAX_TIMESTAMPS = 10_000;

/** The newest hybrid timestamp the oracle handed out; the next snapshot's must be later. */
export const oracleHighWater = (state: StateView): bigint => BigInt(state.get(ORACLE, 'timestamps')?.last ?? '0');

/** The first id the next allocation hands out. */
export const nextId = (state: StateView): bigint => BigInt(state.get(ORACLE, 'ids')?.next ?? '1');

/** Takes `count` ids for the coordinator's own use (deployments), from the same counter AllocIds uses. */
export const takeIds = (draft: Draft, count: number): bigint => {
  const first = nextId(draft);
  draft.put(ORACLE, 'ids', { next: (first + BigInt(count)).toString() });
  return first;
};

const countProblem = (count: number, max: number): string | undefined =>
  Number.isInteger(count) && count >= 1 && count <= max ? undefined : `count must be between 1 and ${max}, got ${count}`;

export const allocIds: Handler<AllocIds> = {
  stage: 'system',
  decide: (msg, state): Decision => {
    const bad = countProblem(msg.value.count, MAX_IDS);
    if (bad !== undefined) return reject('INVALID_ARGUMENT', bad);
    const first = nextId(state);
    const next = first + BigInt(msg.value.count);
    return accept(
      [{ entity: ORACLE, key: 'ids', image: { next: next.toString() } }],
      reply('OK', `ids ${first}..${next - 1n}`, { type: 'coord.v1.IdRange', value: { first, count: msg.value.count } satisfies IdRange }),
    );
  },
};

/** `count` consecutive hybrid timestamps, all after this snapshot's and after every earlier one. */
export const allocTimestamps: Handler<AllocTimestamps> = {
  stage: 'system',
  decide: (msg, state, ctx): Decision => {
    const bad = countProblem(msg.value.count, MAX_TIMESTAMPS);
    if (bad !== undefined) return reject('INVALID_ARGUMENT', bad);
    const high = oracleHighWater(state);
    const first = (high > ctx.snapshotTs ? high : ctx.snapshotTs) + 1n;
    const last = first + BigInt(msg.value.count) - 1n;
    return accept(
      [{ entity: ORACLE, key: 'timestamps', image: { last: last.toString() } }],
      reply('OK', `timestamps ${first}..${last}`, { type: 'coord.v1.TimestampRange', value: { first, count: msg.value.count } satisfies TimestampRange }),
    );
  },
};
