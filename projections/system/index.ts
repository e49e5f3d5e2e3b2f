/** The system projection: the id allocator, the timestamp oracle, read holds, the coordinator's description. */
import { ORACLE, READ_HOLD, SETTINGS } from '../model';
import type { Projection } from '../types';
import { allocIds, allocTimestamps } from './allocators';
import { describeCoordinator } from './describe';
import { explainRequest } from './explain';
import { acquireReadHold, listReadHolds, releaseReadHold } from './holds';
import { getSettings, updateSettings } from './settings';

export { oracleHighWater } from './allocators';

export const system: Projection = {
  name: 'system',
  entities: [ORACLE, READ_HOLD, SETTINGS],
  handlers: {
    'coord.v1.AllocIds': allocIds,
    'coord.v1.AllocTimestamps': allocTimestamps,
    'coord.v1.AcquireReadHold': acquireReadHold,
    'coord.v1.ReleaseReadHold': releaseReadHold,
    'coord.v1.ListReadHolds': listReadHolds,
    'coord.v1.DescribeCoordinator': describeCoordinator,
    'coord.v1.UpdateSettings': updateSettings,
    'coord.v1.GetSettings': getSettings,
    'coord.v1.ExplainRequest': explainRequest,
  },
};
