/** DescribeCoordinator: where the coordinator stands, and the settings it decides with. */
import { ALLOCATION, each, QUERY, SESSION, settingsOf, WORKER } from '../model';
import type { CoordinatorInfo, DescribeCoordinator } from '../protocol.gen';
import { compactionFrontier } from '../reads';
import { accept, reply, type Handler } from '../types';
import { oracleHighWater } from './allocators';

export const describeCoordinator: Handler<DescribeCoordinator> = {
  stage: 'system',
  decide: (_msg, state, ctx) => {
    const s = settingsOf(state);
    const allocations = each(state, ALLOCATION);
    const value = {
      snapshotId: ctx.snapshotId,
      snapshotTs: ctx.snapshotTs,
      logTimeMs: BigInt(ctx.logTimeMs),
      oracleTs: oracleHighWater(state),
      frontierTs: compactionFrontier(state, ctx.logTimeMs),
      workers: each(state, WORKER).filter((w) => w.state !== 'DEAD' && w.state !== 'DEREGISTERED').length,
      openSessions: each(state, SESSION).filter((x) => x.state === 'OPEN').length,
      queries: [...state.list(QUERY)].length,
      allocationsInUse: allocations.filter((a) => a.cachedUntilMs === null).length,
      allocationsCached: allocations.filter((a) => a.cachedUntilMs !== null).length,
      settings: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, BigInt(v as number)])),
    } satisfies CoordinatorInfo;
    return accept([], reply('OK', `snapshot ${ctx.snapshotId}`, { type: 'coord.v1.CoordinatorInfo', value }));
  },
};
