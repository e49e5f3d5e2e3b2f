/** Frontend sessions: opened, kept alive by heartbeats, closed, or EXPIRED by the log's clock. */
import { Draft } from '../draft';
import { goneSinceMs, LIMITS, SESSION, type SessionImage } from '../model';
import { ownedBy } from '../owners';
import type { SessionClosed, SessionHeartbeat, SessionOpened } from '../protocol.gen';
import { sessionGone } from '../queries/lifecycle';
import { accept, type Change, type Decision, type Handler, type Mutable, type StateView } from '../types';

export { SESSION, type SessionImage, type SessionState } from '../model';

const NOTHING: Decision = accept([]);

const open = (state: StateView, id: string): SessionImage | undefined => {
  const s = state.get(SESSION, id);
  return s?.state === 'OPEN' ? s : undefined;
};

export const sessionOpened: Handler<SessionOpened> = {
  stage: 'sessions',
  decide: (msg, state, ctx) => {
    const { sessionId, client } = msg.value;
    if (sessionId === '' || state.get(SESSION, sessionId) !== undefined) return NOTHING; // ids are never reused while remembered
    // An event cannot be answered: one over the limits is ignored rather than kept.
    if (sessionId.length > LIMITS.nameChars || client.length > LIMITS.nameChars) return NOTHING;
    const image: SessionImage = { sessionId, client, state: 'OPEN', openedAtTs: ctx.snapshotTs.toString(), lastHeartbeatMs: msg.timestampMs, goneAtMs: null, ...ownedBy(msg) };
    return accept([{ entity: SESSION, key: sessionId, image }]);
  },
};

export const sessionHeartbeat: Handler<SessionHeartbeat> = {
  stage: 'sessions',
  decide: (msg, state) => {
    const s = open(state, msg.value.sessionId);
    if (s === undefined || msg.timestampMs <= s.lastHeartbeatMs) return NOTHING;
    const image: Mutable<typeof s> = { ...s };
    image.lastHeartbeatMs = msg.timestampMs;
    return accept([{ entity: SESSION, key: s.sessionId, image }]);
  },
};

export const sessionClosed: Handler<SessionClosed> = {
  stage: 'sessions',
  decide: (msg, state, ctx) => {
    const s = open(state, msg.value.sessionId);
    if (s === undefined) return NOTHING;
    const draft = new Draft(state).put(SESSION, s.sessionId, { ...s, state: 'CLOSED', goneAtMs: ctx.logTimeMs });
    sessionGone(draft, s.sessionId, ctx.logTimeMs);
    return draft.decide(null);
  },
};

/** The sessions' part of the check loop: silence of `timeoutMs` of log time expires a session. */
export const expireSessions = (state: StateView, nowMs: number, timeoutMs: number): Change[] => {
  const changes: Change[] = [];
  for (const [, s] of state.list(SESSION)) {
    if (s.state === 'OPEN' && nowMs - s.lastHeartbeatMs >= timeoutMs) changes.push({ entity: SESSION, key: s.sessionId, image: { ...s, state: 'EXPIRED', goneAtMs: nowMs } });
  }
  return changes;
};

/**
 * The sessions CLOSED or EXPIRED for `retentionMs` of log time, as deletions: their cached slots
 * and temporary queries went with them, and their other queries keep the id as a plain name.
 */
export const goneSessions = (state: StateView, nowMs: number, retentionMs: number): Change[] => {
  const changes: Change[] = [];
  for (const [, s] of state.list(SESSION)) {
    if (s.state !== 'OPEN' && nowMs - goneSinceMs(s) >= retentionMs) changes.push({ entity: SESSION, key: s.sessionId, image: null });
  }
  return changes;
};
