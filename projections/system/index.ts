/** The system projection: the id allocator, the timestamp oracle, read holds, the coordinator's description. */
import { ORACLE, PRINCIPAL_KEY, READ_HOLD, SETTINGS } from '../model';
import { ownerOnly } from '../owners';
import type { HandlerMap, Projection } from '../types';
import { allocIds, allocTimestamps } from './allocators';
import { describeCoordinator } from './describe';
import { explainRequest } from './explain';
import { acquireReadHold, listReadHolds, releaseReadHold } from './holds';
import { registerPrincipalKey, revokePrincipalKey } from './keys';
import { getSettings, updateSettings } from './settings';

export { oracleHighWater } from './allocators';

export const system: Projection = {
  name: 'system',
  entities: [ORACLE, READ_HOLD, SETTINGS, PRINCIPAL_KEY],
  handlers: {
    'coord.v1.AllocIds': allocIds,
    'coord.v1.AllocTimestamps': allocTimestamps,
    'coord.v1.AcquireReadHold': ownerOnly(acquireReadHold, READ_HOLD, (v) => v.name, (h) => `renew read hold ${h}`),
    'coord.v1.ReleaseReadHold': ownerOnly(releaseReadHold, READ_HOLD, (v) => v.name, (h) => `release read hold ${h}`),
    'coord.v1.ListReadHolds': listReadHolds,
    'coord.v1.DescribeCoordinator': describeCoordinator,
    'coord.v1.UpdateSettings': updateSettings,
    'coord.v1.GetSettings': getSettings,
    'coord.v1.ExplainRequest': explainRequest,
    'coord.v1.RegisterPrincipalKey': registerPrincipalKey,
    'coord.v1.RevokePrincipalKey': revokePrincipalKey,
  } satisfies HandlerMap,
};
