/**
 * Read holds and compaction. History is kept for `historyRetentionMs` of log time and beyond
 * that only while a hold covers it; a hold lapses after its lease unless renewed, so a client
 * that died does not pin history forever. The frontier never goes back.
 */
import type { Draft } from '../draft';
import { each, READ_HOLD, shown, tooLong, type ReadHoldImage } from '../model';
import { ownedBy } from '../owners';
import type { AcquireReadHold, ListReadHolds, ReadHold, ReadHoldList, ReleaseReadHold } from '../protocol.gen';
import { compactionFrontier } from '../reads';
import { accept, reject, reply, unwrap, wrap, type Decision, type Handler, type Payload } from '../types';

const holdValue = (h: ReadHoldImage): ReadHold => ({ name: h.name, ts: BigInt(h.ts), expiresAtMs: BigInt(h.expiresAtMs), owner: wrap('string', h.owner) });
const holdPayload = (h: ReadHoldImage): Payload => ({ type: 'coord.v1.ReadHold', value: holdValue(h) });

export const acquireReadHold: Handler<AcquireReadHold> = {
  stage: 'system',
  decide: (msg, state, ctx): Decision => {
    const v = msg.value;
    if (v.name === '') return reject('INVALID_ARGUMENT', 'a read hold needs a name');
    const long = tooLong('a read hold name', v.name);
    if (long !== undefined) return reject('INVALID_ARGUMENT', long);
    const lease = Number(v.leaseMs);
    if (!(lease > 0 && lease <= 86_400_000)) return reject('INVALID_ARGUMENT', `leaseMs must be between 1 and 86400000, got ${v.leaseMs}`);
    const existing = state.get(READ_HOLD, v.name);
    const ts = unwrap(v.asOfTs) ?? (existing === undefined ? ctx.snapshotTs : BigInt(existing.ts));
    if (ts > ctx.snapshotTs) return reject('INVALID_ARGUMENT', `asOf ${ts} is after the current snapshot ${ctx.snapshotTs}`);
    const frontier = compactionFrontier(state, ctx.logTimeMs);
    if (ts < frontier) return reject('FAILED_PRECONDITION', `asOf ${ts} is below the compaction frontier ${frontier}; that history is gone`);
    // A renewal keeps the hold's owner; a new hold takes its sender's.
    const image: ReadHoldImage = { name: v.name, ts: ts.toString(), expiresAtMs: ctx.logTimeMs + lease, ...(existing === undefined ? ownedBy(msg) : existing.owner === undefined ? {} : { owner: existing.owner }) };
    return accept([{ entity: READ_HOLD, key: v.name, image }], reply('OK', `history at ${ts} is held until log time ${image.expiresAtMs}`, holdPayload(image)));
  },
};

export const releaseReadHold: Handler<ReleaseReadHold> = {
  stage: 'system',
  decide: (msg, state): Decision =>
    state.get(READ_HOLD, msg.value.name) === undefined
      ? reject('NOT_FOUND', `read hold ${shown(msg.value.name)} does not exist`)
      : accept([{ entity: READ_HOLD, key: msg.value.name, image: null }], reply('OK', `released read hold ${msg.value.name}`)),
};

export const listReadHolds: Handler<ListReadHolds> = {
  stage: 'system',
  decide: (_msg, state, ctx): Decision => {
    const holds = each(state, READ_HOLD).map(holdValue);
    return accept([], reply('OK', `${holds.length} read holds`, { type: 'coord.v1.ReadHoldList', value: { holds, frontierTs: compactionFrontier(state, ctx.logTimeMs) } satisfies ReadHoldList }));
  },
};

/** The holds' part of the check loop: lapsed holds go, and the history below the frontier is compacted. */
export const checkHolds = (draft: Draft, nowMs: number): void => {
  for (const h of each(draft, READ_HOLD)) if (h.expiresAtMs <= nowMs) draft.delete(READ_HOLD, h.name);
  draft.compact(compactionFrontier(draft, nowMs));
};
