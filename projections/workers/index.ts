/** The workers projection and the check loop that runs on the log's ticks. */
import type { Projection } from '../types';
import { listWorkers, tick, WORKER, workerDeregistered, workerDraining, workerHeartbeat, workerRegistered, workerStatistics } from './workers';

export const workers: Projection = {
  name: 'workers',
  entities: [WORKER],
  handlers: {
    'coord.v1.WorkerRegistered': workerRegistered,
    'coord.v1.WorkerHeartbeat': workerHeartbeat,
    'coord.v1.WorkerStatistics': workerStatistics,
    'coord.v1.WorkerDraining': workerDraining,
    'coord.v1.WorkerDeregistered': workerDeregistered,
    'coord.v1.Tick': tick,
    'coord.v1.ListWorkers': listWorkers,
  },
};
