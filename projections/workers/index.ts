/** The workers projection (its SUSPECT/DEAD check runs in the check loop, projections/liveness.ts). */
import type { Projection } from '../types';
import { listWorkers, WORKER, workerDeregistered, workerDraining, workerHeartbeat, workerRegistered, workerStatistics } from './workers';

export const workers: Projection = {
  name: 'workers',
  entities: [WORKER],
  liveness: { [WORKER]: ['lastHeartbeatMs'] },
  handlers: {
    'coord.v1.WorkerRegistered': workerRegistered,
    'coord.v1.WorkerHeartbeat': workerHeartbeat,
    'coord.v1.WorkerStatistics': workerStatistics,
    'coord.v1.WorkerDraining': workerDraining,
    'coord.v1.WorkerDeregistered': workerDeregistered,
    'coord.v1.ListWorkers': listWorkers,
  },
};
