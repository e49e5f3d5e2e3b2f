/**
 * The check loop (DESIGN §6): on every Tick, by the tick's log time and the thresholds it
 * carries, silent workers become SUSPECT then DEAD and silent sessions EXPIRED. One handler
 * owns the Tick, so every projection's check sees the same instant.
 */
import { expireSessions } from './sessions/sessions';
import { accept, type Handler, type Projection } from './types';
import { checkWorkers } from './workers/workers';

export interface Tick {
  readonly tickMs: bigint;
  readonly workerSuspectMs: bigint;
  readonly workerTimeoutMs: bigint;
  readonly sessionTimeoutMs: bigint;
}

export const tick: Handler<Tick> = {
  stage: 'infrastructure',
  decide: (msg, state) =>
    accept([
      ...checkWorkers(state, msg.timestampMs, Number(msg.value.workerSuspectMs), Number(msg.value.workerTimeoutMs)),
      ...expireSessions(state, msg.timestampMs, Number(msg.value.sessionTimeoutMs)),
    ]),
};

export const liveness: Projection = { name: 'liveness', entities: [], handlers: { 'coord.v1.Tick': tick } };
