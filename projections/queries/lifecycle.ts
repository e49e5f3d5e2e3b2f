/**
 * A query's life on the workers: deploy, the deferred reply, stop, failure, and the cleanup
 * the check loop runs when a worker or a session goes. Every function writes into a Draft so
 * the catalog's cascades and the liveness checks can call them.
 */
import type { Draft } from '../draft';
import {
  ALLOCATION,
  DEPLOY_TIMEOUT_MS,
  each,
  PHYSICAL_SOURCE,
  QUERY,
  sessionOf,
  settingsOf,
  shown,
  type AllocationImage,
  type FragmentImage,
  type QueryImage,
  type QueryState,
} from '../model';
import type { DeployFragment, FragmentReport, Query, StopFragment } from '../protocol.gen';
import { reply, wrap, type Payload, type ReplyDraft } from '../types';

export const queryPayload = (q: QueryImage): Payload => ({
  type: 'coord.v1.Query',
  value: {
    name: q.name,
    session: wrap('string', q.session),
    temporary: q.temporary,
    plan: q.plan,
    sources: [...q.sources],
    sink: q.sink,
    state: q.state,
    reason: q.reason,
    reused: q.reused,
    fragments: q.fragments.map((f) => ({ fragmentId: f.fragmentId, kind: f.kind, workerId: f.workerId, physicalSource: wrap('string', f.physicalSource), status: f.status })),
    owner: wrap('string', q.owner),
  } satisfies Query,
});

/** States in which a query holds slots and fragments on workers. */
export const live = (s: QueryState): boolean => {
  switch (s) {
    case 'DEPLOYING':
    case 'RUNNING':
      return true;
    case 'CREATED':
    case 'STOPPING':
    case 'STOPPED':
    case 'FAILED':
      return false;
    default: {
      // A new state must say here whether it runs: the compiler stops at this line until it does.
      const unknown: never = s;
      throw new Error(`unknown query state ${String(unknown)}`);
    }
  }
};

const settled = (f: FragmentImage): boolean => f.status === 'STOPPED' || f.status === 'FAILED';

export const deployCommand = (draft: Draft, q: QueryImage, f: FragmentImage): void => {
  const p = f.physicalSource === null ? undefined : (draft.get(PHYSICAL_SOURCE, f.physicalSource));
  draft.command(f.workerId, 'coord.v1.DeployFragment', {
    queryName: q.name,
    fragmentId: f.fragmentId,
    kind: f.kind,
    plan: q.plan,
    physicalSource: wrap('string', f.physicalSource),
    connectorType: wrap('string', p?.connectorType),
    options: p === undefined ? {} : { ...p.options },
    sink: wrap('string', f.kind === 'SINK' ? q.sink : null),
  } satisfies DeployFragment);
};

const stopCommands = (draft: Draft, q: QueryImage, fragments: readonly FragmentImage[]): void => {
  for (const f of fragments) if (!settled(f)) draft.command(f.workerId, 'coord.v1.StopFragment', { queryName: q.name, fragmentId: f.fragmentId } satisfies StopFragment);
};

/** Answers a start that waits on the workers, if one does. */
const answerPending = (draft: Draft, q: QueryImage, answer: ReplyDraft): void => {
  if (q.pending !== null) draft.answer(q.pending.correlationId, q.pending.replyTo, answer);
};

/**
 * A slot whose fragment has stopped: to its session's cache when it was meant for it, the
 * session is open and keeps fewer than `maxCachedAllocations`, else freed.
 */
const settleSlot = (draft: Draft, a: AllocationImage, cache: boolean, nowMs: number): void => {
  const settings = settingsOf(draft);
  const open = a.session !== null && sessionOf(draft, a.session)?.state === 'OPEN';
  const cachedNow = open ? each(draft, ALLOCATION).filter((x) => x.session === a.session && x.cachedUntilMs !== null).length : 0;
  if (cache && open && cachedNow < settings.maxCachedAllocations)
    draft.put(ALLOCATION, a.allocationId, { ...a, fragmentId: null, cachedUntilMs: nowMs + settings.allocationIdleMs, releaseTo: null });
  else draft.delete(ALLOCATION, a.allocationId);
};

/** The slot of a fragment that has now stopped on its worker, if it was waiting for that. */
export const fragmentSettled = (draft: Draft, workerId: string, fragmentId: string, nowMs: number): void => {
  for (const a of each(draft, ALLOCATION))
    if (a.fragmentId === fragmentId && a.workerId === workerId && a.releaseTo !== null) settleSlot(draft, a, a.releaseTo === 'CACHE', nowMs);
};

/**
 * Gives back the query's slots: those of fragments already stopped at once, the others once
 * their workers confirm, so a worker never runs more fragments than it has slots. A stop
 * sends them to the session's cache; a failure frees them.
 */
const releaseSlots = (draft: Draft, q: QueryImage, cache: boolean, nowMs: number): void => {
  const byAllocation = new Map(q.fragments.map((f) => [f.allocation, f]));
  for (const a of each(draft, ALLOCATION)) {
    const f = byAllocation.get(a.allocationId);
    if (f === undefined || a.cachedUntilMs !== null || a.fragmentId !== f.fragmentId) continue;
    if (settled(f)) settleSlot(draft, a, cache, nowMs);
    else draft.put(ALLOCATION, a.allocationId, { ...a, releaseTo: cache ? 'CACHE' : 'FREE' });
  }
};

/** Every fragment is RUNNING: the query runs and the waiting start gets its OK. */
export const maybeRunning = (draft: Draft, q: QueryImage): void => {
  if (q.state !== 'DEPLOYING' || !q.fragments.every((f) => f.status === 'RUNNING')) {
    draft.put(QUERY, q.name, q);
    return;
  }
  const running: QueryImage = { ...q, state: 'RUNNING', pending: null, deployBy: null };
  draft.put(QUERY, q.name, running);
  answerPending(draft, q, reply('OK', `query ${q.name} is RUNNING on ${q.fragments.length} fragments, ${q.reused} slots reused from the session's cache`, queryPayload(running)));
};

/**
 * The query cannot go on: the rest of its fragments are told to stop, its slots released, a
 * waiting start gets ABORTED with the reason, and it is FAILED.
 */
export const failQuery = (draft: Draft, q: QueryImage, reason: string, nowMs: number): QueryImage => {
  stopCommands(draft, q, q.fragments);
  releaseSlots(draft, q, false, nowMs);
  const failed: QueryImage = {
    ...q,
    state: 'FAILED',
    reason,
    pending: null,
    deployBy: null,
    fragments: q.fragments.map((f) => (settled(f) ? f : { ...f, status: 'STOPPING' })),
  };
  draft.put(QUERY, q.name, failed);
  answerPending(draft, q, reply('ABORTED', `query ${q.name} was aborted: ${reason}`, queryPayload(failed)));
  return failed;
};

/** A stop: fragments told to stop, slots to the session's cache, STOPPING until the workers confirm. */
export const stopQuery = (draft: Draft, q: QueryImage, why: string, nowMs: number, cache: boolean): QueryImage => {
  stopCommands(draft, q, q.fragments);
  releaseSlots(draft, q, cache, nowMs);
  const fragments = q.fragments.map((f): FragmentImage => (settled(f) ? f : { ...f, status: 'STOPPING' }));
  const stopped: QueryImage = { ...q, state: fragments.every(settled) ? 'STOPPED' : 'STOPPING', pending: null, deployBy: null, fragments };
  draft.put(QUERY, q.name, stopped);
  answerPending(draft, q, reply('ABORTED', `query ${q.name} was stopped before it ran: ${why}`, queryPayload(stopped)));
  return stopped;
};

/** Stops whatever still runs of `q` and removes it: a cascade, or a temporary query whose session went. */
export const removeQuery = (draft: Draft, q: QueryImage, why: string, nowMs: number): void => {
  if (live(q.state)) stopQuery(draft, q, why, nowMs, false);
  draft.delete(QUERY, q.name);
};

/** A STOPPING query whose every fragment has settled is STOPPED; any other is as it was. */
const stoppedOnceSettled = (q: QueryImage): QueryImage =>
  q.state === 'STOPPING' && q.fragments.every(settled) ? { ...q, state: 'STOPPED' } : q;

/** A fragment's status as its worker reports it. */
export const fragmentReported = (draft: Draft, q: QueryImage, fragmentId: string, status: FragmentReport, reason: string, nowMs: number): void => {
  const f = q.fragments.find((x) => x.fragmentId === fragmentId);
  if (f === undefined) return; // the caller found it; a report of a fragment the query does not have changes nothing
  const updated: QueryImage = { ...q, fragments: q.fragments.map((x) => (x === f ? { ...x, status: status === 'RUNNING' && x.status === 'STOPPING' ? 'STOPPING' : status } : x)) };
  switch (status) {
    case 'RUNNING':
      if (f.status === 'DEPLOYING' && q.state === 'DEPLOYING') maybeRunning(draft, updated);
      else if (f.status !== 'RUNNING') draft.command(f.workerId, 'coord.v1.StopFragment', { queryName: q.name, fragmentId }); // late: it was told to stop
      return;
    case 'FAILED':
      fragmentSettled(draft, f.workerId, fragmentId, nowMs);
      if (live(q.state)) failQuery(draft, updated, `fragment ${fragmentId} failed on worker ${f.workerId}: ${reason === '' ? 'no reason given' : shown(reason)}`, nowMs);
      else draft.put(QUERY, q.name, stoppedOnceSettled(updated));
      return;
    case 'STOPPED': {
      fragmentSettled(draft, f.workerId, fragmentId, nowMs);
      // A fragment that stops without being told to: the query cannot go on without it.
      if (live(q.state)) {
        failQuery(draft, updated, `fragment ${fragmentId} stopped on worker ${f.workerId} without being told to`, nowMs);
        return;
      }
      draft.put(QUERY, q.name, stoppedOnceSettled(updated));
      return;
    }
    default: {
      const unknown: never = status;
      throw new Error(`unknown fragment status ${String(unknown)}`);
    }
  }
};

/**
 * Cleanup when a worker is DEAD or deregistered, run once by the transition that says so: its
 * physical sources become unavailable, its slots vanish, and every query with a fragment there
 * FAILS (a source fragment cannot move, its data lives on that worker; the documented policy is
 * to fail the query and let its owner start it again once the sources are back).
 */
export const workerGone = (draft: Draft, workerId: string, why: string, nowMs: number): void => {
  for (const p of each(draft, PHYSICAL_SOURCE))
    if (p.workerId === workerId && p.available) draft.put(PHYSICAL_SOURCE, p.name, { ...p, available: false });
  for (const q of each(draft, QUERY)) {
    const lost = q.fragments.filter((f) => f.workerId === workerId && !settled(f));
    if (lost.length === 0) continue;
    const without: QueryImage = { ...q, fragments: q.fragments.map((f) => (lost.includes(f) ? { ...f, status: 'FAILED' } : f)) };
    if (live(q.state)) failQuery(draft, without, `worker ${workerId} is ${why}`, nowMs);
    else draft.put(QUERY, q.name, stoppedOnceSettled(without));
  }
  for (const a of each(draft, ALLOCATION)) if (a.workerId === workerId) draft.delete(ALLOCATION, a.allocationId);
};

/** A worker's new incarnation is ACTIVE: its physical sources can be read again. */
export const workerBack = (draft: Draft, workerId: string): void => {
  for (const p of each(draft, PHYSICAL_SOURCE))
    if (p.workerId === workerId && !p.available) draft.put(PHYSICAL_SOURCE, p.name, { ...p, available: true });
};

/** Cleanup when a session closes or expires: its cached slots are released, its temporary queries stopped and dropped. */
export const sessionGone = (draft: Draft, sessionId: string, nowMs: number): void => {
  for (const q of each(draft, QUERY)) if (q.session === sessionId && q.temporary) removeQuery(draft, q, `its session ${sessionId} is gone`, nowMs);
  for (const a of each(draft, ALLOCATION)) if (a.session === sessionId && a.cachedUntilMs !== null) draft.delete(ALLOCATION, a.allocationId);
};

/** What ran out for a deployment past its `deployBy`, for the reason a failed start gives. */
const overdue = (q: QueryImage): string => {
  const asked = q.pending?.deadlineMs ?? null;
  if (asked === null) return `the deploy timeout (${DEPLOY_TIMEOUT_MS} ms)`;
  return q.deployBy !== null && q.deployBy < asked ? `its deadline, held to log time ${q.deployBy} by maxDeadlineMs (it asked for ${asked}),` : `its deadline ${q.deployBy}`;
};

/** The queries' part of the check loop: idle cached slots are released, overdue deployments aborted. */
export const checkQueries = (draft: Draft, nowMs: number): void => {
  for (const a of each(draft, ALLOCATION)) if (a.cachedUntilMs !== null && a.cachedUntilMs <= nowMs) draft.delete(ALLOCATION, a.allocationId);
  for (const q of each(draft, QUERY))
    if (q.state === 'DEPLOYING' && q.deployBy !== null && q.deployBy < nowMs)
      failQuery(
        draft,
        q,
        `${overdue(q)} passed before every fragment reported RUNNING (${q.fragments
          .filter((f) => f.status !== 'RUNNING')
          .map((f) => f.fragmentId)
          .join(', ')} did not)`,
        nowMs,
      );
};
