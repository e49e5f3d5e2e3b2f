/**
 * Workers: registration with an incarnation (a newer one fences the older one's reports),
 * heartbeats and statistics, drain, deregistration, and the check loop that marks a silent
 * worker SUSPECT, then DEAD, by log time only.
 */
import { Draft } from '../draft';
import { gone, goneSinceMs, LIMITS, WORKER, type WorkerImage, type WorkerState } from '../model';
import { ownedBy } from '../owners';
import type { ListWorkers, WorkerDeregistered, WorkerDraining, WorkerHeartbeat, WorkerInfo, WorkerList, WorkerRegistered, WorkerStatistics } from '../protocol.gen';
import { workerBack, workerGone } from '../queries/lifecycle';
import { accept, reply, type Change, type Decision, type Handler, type Mutable, type StateView } from '../types';

export { WORKER, type WorkerImage, type WorkerState } from '../model';

/** What every report of a worker carries: which worker, in which incarnation. */
type Report = WorkerHeartbeat | WorkerDraining | WorkerDeregistered | WorkerStatistics;

const NOTHING: Decision = accept([]);

const lookup = (state: StateView, id: string): WorkerImage | undefined => state.get(WORKER, id);

const put = (image: WorkerImage): Decision => accept([{ entity: WORKER, key: image.workerId, image }]);

const within = (s: string): boolean => s.length <= LIMITS.nameChars;

/**
 * A registration whose sizes the state can keep. An event has no reply to refuse it with, and a
 * decider that throws would send it to the DLQ as a coordinator failure: one over the limits is
 * ignored, like any other report that cannot apply.
 */
const bounded = (v: WorkerRegistered): boolean =>
  within(v.workerId) && within(v.incarnation) && within(v.host) && v.capabilities.length <= LIMITS.capabilities && v.capabilities.every(within);

/** The worker a report may touch: known, of the same incarnation, and not gone. */
const current = (state: StateView, r: Report): WorkerImage | undefined => {
  const w = lookup(state, r.workerId);
  return w === undefined || w.incarnation !== r.incarnation || w.state === 'DEAD' || w.state === 'DEREGISTERED' ? undefined : w;
};

/**
 * A registration. A new incarnation of a worker that was still alive means the old process is
 * gone: its fragments are lost and cleaned up now, exactly as if it had been declared DEAD.
 */
export const workerRegistered: Handler<WorkerRegistered> = {
  stage: 'infrastructure',
  decide: (msg, state, ctx) => {
    const v = msg.value;
    if (v.workerId === '' || v.incarnation === '' || !Number.isInteger(v.slots) || v.slots < 0 || !bounded(v)) return NOTHING;
    const before = lookup(state, v.workerId);
    const same = before !== undefined && before.incarnation === v.incarnation;
    if (same && gone(before)) return NOTHING; // a late registration of a process already declared gone
    const draft = new Draft(state);
    if (before !== undefined && !same && !gone(before)) workerGone(draft, v.workerId, 'replaced by a new incarnation', ctx.logTimeMs);
    draft.put(WORKER, v.workerId, {
      workerId: v.workerId,
      incarnation: v.incarnation,
      host: v.host,
      slots: v.slots,
      capabilities: [...v.capabilities].sort(),
      state: 'ACTIVE',
      lastHeartbeatMs: msg.timestampMs,
      registeredAtTs: same ? before.registeredAtTs : ctx.snapshotTs.toString(),
      statistics: same ? before.statistics : null,
      goneAtMs: null,
      ...ownedBy(msg),
    } satisfies WorkerImage);
    workerBack(draft, v.workerId);
    return draft.decide(null);
  },
};

/** A worker heard from at `atMs` (a copy, then set: see `Mutable`). */
const alive = (w: WorkerImage, atMs: number): WorkerImage => {
  const next: Mutable<WorkerImage> = { ...w };
  next.lastHeartbeatMs = Math.max(w.lastHeartbeatMs, atMs);
  if (next.state === 'SUSPECT') next.state = 'ACTIVE';
  return next;
};

export const workerHeartbeat: Handler<WorkerHeartbeat> = {
  stage: 'infrastructure',
  decide: (msg, state) => {
    const w = current(state, msg.value);
    return w === undefined ? NOTHING : put(alive(w, msg.timestampMs));
  },
};

export const workerStatistics: Handler<WorkerStatistics> = {
  stage: 'infrastructure',
  decide: (msg, state) => {
    const w = current(state, msg.value);
    const figures = Object.keys(msg.value.statistics);
    if (w === undefined || figures.length > LIMITS.statistics || !figures.every(within)) return NOTHING;
    // JSON has no NaN or Infinity: such a value would read back as null after a restart.
    const statistics = Object.fromEntries(Object.entries(msg.value.statistics).filter(([, v]) => Number.isFinite(v)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return put({ ...alive(w, msg.timestampMs), statistics });
  },
};

export const workerDraining: Handler<WorkerDraining> = {
  stage: 'infrastructure',
  decide: (msg, state) => {
    const w = current(state, msg.value);
    return w === undefined || w.state === 'DRAINING' ? NOTHING : put({ ...alive(w, msg.timestampMs), state: 'DRAINING' });
  },
};

export const workerDeregistered: Handler<WorkerDeregistered> = {
  stage: 'infrastructure',
  decide: (msg, state, ctx) => {
    const w = current(state, msg.value);
    if (w === undefined) return NOTHING;
    const draft = new Draft(state).put(WORKER, w.workerId, { ...w, state: 'DEREGISTERED', goneAtMs: ctx.logTimeMs });
    workerGone(draft, w.workerId, 'DEREGISTERED', ctx.logTimeMs);
    return draft.decide(null);
  },
};

/** The workers' part of the check loop: silence of `suspectMs` makes a worker SUSPECT, of `timeoutMs` DEAD. */
export const checkWorkers = (state: StateView, nowMs: number, suspectMs: number, timeoutMs: number): Change[] => {
  const changes: Change[] = [];
  for (const [, w] of state.list(WORKER)) {
    if (w.state === 'DEAD' || w.state === 'DEREGISTERED') continue;
    const silentMs = nowMs - w.lastHeartbeatMs;
    const next: WorkerState = silentMs >= timeoutMs ? 'DEAD' : silentMs >= suspectMs && w.state === 'ACTIVE' ? 'SUSPECT' : w.state;
    if (next !== w.state) changes.push({ entity: WORKER, key: w.workerId, image: next === 'DEAD' ? { ...w, state: next, goneAtMs: nowMs } : { ...w, state: next } });
  }
  return changes;
};

/**
 * The workers gone (DEAD or DEREGISTERED) for `retentionMs` of log time, as deletions: their
 * cleanup ran when they went, so nothing in the state needs them, and churn must not grow the
 * state without bound. The id stays free for a later registration.
 */
export const goneWorkers = (state: StateView, nowMs: number, retentionMs: number): Change[] => {
  const changes: Change[] = [];
  for (const [, w] of state.list(WORKER)) {
    if (gone(w) && nowMs - goneSinceMs(w) >= retentionMs) changes.push({ entity: WORKER, key: w.workerId, image: null });
  }
  return changes;
};

export const listWorkers: Handler<ListWorkers> = {
  stage: 'system',
  decide: (msg, state) => {
    const workers: WorkerInfo[] = [];
    for (const [, w] of state.list(WORKER)) {
      if (!msg.value.includeGone && (w.state === 'DEAD' || w.state === 'DEREGISTERED')) continue;
      workers.push({
        workerId: w.workerId,
        incarnation: w.incarnation,
        host: w.host,
        slots: w.slots,
        capabilities: [...w.capabilities],
        state: w.state,
        lastHeartbeatMs: BigInt(w.lastHeartbeatMs),
        statistics: w.statistics === null ? null : { map: { ...w.statistics } },
      });
    }
    return accept([], reply('OK', `${workers.length} workers`, { type: 'coord.v1.WorkerList', value: { workers } satisfies WorkerList }));
  },
};
