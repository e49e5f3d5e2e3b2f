/** The sessions projection (its expiry runs in the check loop, projections/liveness.ts). */
import type { Projection } from '../types';
import { SESSION, sessionClosed, sessionHeartbeat, sessionOpened } from './sessions';

export const sessions: Projection = {
  name: 'sessions',
  entities: [SESSION],
  liveness: { [SESSION]: ['lastHeartbeatMs'] },
  handlers: {
    'coord.v1.SessionOpened': sessionOpened,
    'coord.v1.SessionHeartbeat': sessionHeartbeat,
    'coord.v1.SessionClosed': sessionClosed,
  },
};
