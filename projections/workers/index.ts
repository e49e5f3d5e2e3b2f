/** The workers projection (its SUSPECT/DEAD check runs in the check loop, projections/liveness.ts). */
import { workerOnly } from '../owners';
import type { HandlerMap, Projection } from '../types';
import { listWorkers, WORKER, workerDeregistered, workerDraining, workerHeartbeat, workerRegistered, workerStatistics } from './workers';

export const workers: Projection = {
  name: 'workers',
  entities: [WORKER],
  liveness: { [WORKER]: ['lastHeartbeatMs'] },
  handlers: {
    'coord.v1.WorkerRegistered': workerOnly(workerRegistered),
    'coord.v1.WorkerHeartbeat': workerOnly(workerHeartbeat),
    'coord.v1.WorkerStatistics': workerOnly(workerStatistics),
    'coord.v1.WorkerDraining': workerOnly(workerDraining),
    'coord.v1.WorkerDeregistered': workerOnly(workerDeregistered),
    'coord.v1.ListWorkers': listWorkers,
  } satisfies HandlerMap,
};
