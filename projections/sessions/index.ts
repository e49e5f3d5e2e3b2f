/** The sessions projection (its expiry runs in the check loop, projections/liveness.ts). */
import { ownerOnly } from '../owners';
import type { HandlerMap, Projection } from '../types';
import { SESSION, sessionClosed, sessionHeartbeat, sessionOpened } from './sessions';

export const sessions: Projection = {
  name: 'sessions',
  entities: [SESSION],
  liveness: { [SESSION]: ['lastHeartbeatMs'] },
  handlers: {
    'coord.v1.SessionOpened': sessionOpened,
    'coord.v1.SessionHeartbeat': ownerOnly(sessionHeartbeat, SESSION, (v) => v.sessionId, (s) => `keep session ${s} alive`),
    'coord.v1.SessionClosed': ownerOnly(sessionClosed, SESSION, (v) => v.sessionId, (s) => `close session ${s}`),
  } satisfies HandlerMap,
};
