/**
 * The check loop (DESIGN §6): on every Tick, by the tick's log time and the settings it
 * carries, silent workers become SUSPECT then DEAD (their fragments fail and their sources
 * become unavailable), silent sessions EXPIRED (their cached slots and temporary queries go),
 * workers and sessions gone for `goneRetentionMs` removed, idle cached slots released, overdue
 * deployments aborted, lapsed read holds dropped and the history compacted. One handler owns
 * the Tick, so every check sees the same instant.
 */
import { Draft } from './draft';
import { SETTINGS, settingsOf, type Settings } from './model';
import { checkQueries, sessionGone, workerGone } from './queries/lifecycle';
import { compactionFrontier } from './reads';
import { expireSessions, goneSessions } from './sessions/sessions';
import { checkHolds } from './system/holds';
import type { Handler, Projection } from './types';
import { checkWorkers, goneWorkers } from './workers/workers';

export interface Tick {
  readonly tickMs: bigint;
  readonly workerSuspectMs: bigint;
  readonly workerTimeoutMs: bigint;
  readonly sessionTimeoutMs: bigint;
  readonly maxAllocations?: number;
  readonly allocationIdleMs?: bigint;
  readonly maxCachedAllocations?: number;
  readonly historyRetentionMs?: bigint;
  readonly maxValueBytes?: number;
  readonly dedupeRetentionMs?: bigint;
  readonly goneRetentionMs?: bigint;
  readonly maxDeadlineMs?: bigint;
}

const ms = (v: bigint | undefined, was: number): number => (v === undefined ? was : Number(v));

const settingsFrom = (t: Tick, was: Settings): Omit<Settings, 'frontierFloorTs'> => ({
  workerSuspectMs: Number(t.workerSuspectMs),
  workerTimeoutMs: Number(t.workerTimeoutMs),
  sessionTimeoutMs: Number(t.sessionTimeoutMs),
  maxAllocations: t.maxAllocations ?? was.maxAllocations,
  allocationIdleMs: t.allocationIdleMs === undefined ? was.allocationIdleMs : Number(t.allocationIdleMs),
  maxCachedAllocations: t.maxCachedAllocations ?? was.maxCachedAllocations,
  historyRetentionMs: ms(t.historyRetentionMs, was.historyRetentionMs),
  maxValueBytes: t.maxValueBytes ?? was.maxValueBytes,
  dedupeRetentionMs: ms(t.dedupeRetentionMs, was.dedupeRetentionMs),
  goneRetentionMs: ms(t.goneRetentionMs, was.goneRetentionMs),
  maxDeadlineMs: ms(t.maxDeadlineMs, was.maxDeadlineMs),
});

export const tick: Handler<Tick> = {
  stage: 'infrastructure',
  decide: (msg, state, ctx) => {
    // The pass's log time, which never goes back, even if a later tick carries an earlier stamp.
    const now = ctx.logTimeMs;
    const draft = new Draft(state);
    const was = settingsOf(state);
    const next = settingsFrom(msg.value, was);
    const { frontierFloorTs: _, ...current } = was;
    const settings: Settings = JSON.stringify(next) === JSON.stringify(current) ? was : ({ ...next, frontierFloorTs: compactionFrontier(state, now).toString() } as Settings);
    if (settings !== was) draft.put(SETTINGS, 'current', settings);
    for (const c of checkWorkers(draft, now, settings.workerSuspectMs, settings.workerTimeoutMs)) {
      draft.put(c.entity, c.key, c.image as never);
      if ((c.image as { state: string }).state === 'DEAD') workerGone(draft, c.key, 'DEAD', now);
    }
    for (const c of expireSessions(draft, now, settings.sessionTimeoutMs)) {
      draft.put(c.entity, c.key, c.image as never);
      sessionGone(draft, c.key, now);
    }
    // After the transitions above, so one tick with no retention declares and removes alike.
    for (const c of [...goneWorkers(draft, now, settings.goneRetentionMs), ...goneSessions(draft, now, settings.goneRetentionMs)]) draft.delete(c.entity, c.key);
    checkQueries(draft, now);
    checkHolds(draft, now);
    return draft.decide(null);
  },
};

export const liveness: Projection = { name: 'liveness', entities: [], handlers: { 'coord.v1.Tick': tick } };
