/** The projection registry: adding a projection means adding it to this table, nothing else. */
import { catalog } from './catalog';
import { liveness } from './liveness';
import { queries } from './queries';
import { sessions } from './sessions';
import { system } from './system';
import { workers } from './workers';
import type { Handler, Projection } from './types';
export * from './types';
export { oracleHighWater } from './system';
export { LOGICAL_BITS, nextHybrid } from './system/hybrid';

/** Every entity whose versions the history keeps. */
export const onDemandEntities = (projections: readonly Projection[] = PROJECTIONS): ReadonlySet<string> => new Set(projections.flatMap((p) => p.onDemand ?? []));

export const allEntities = (projections: readonly Projection[] = PROJECTIONS): readonly string[] => projections.flatMap((p) => p.entities);

export const versionedEntities = (projections: readonly Projection[] = PROJECTIONS): ReadonlySet<string> => new Set(projections.flatMap((p) => p.versioned ?? []));

/** Per entity, the fields of its image that only say it is alive (see Projection.liveness). */
export const livenessFields = (projections: readonly Projection[] = PROJECTIONS): ReadonlyMap<string, ReadonlySet<string>> =>
  new Map(projections.flatMap((p) => Object.entries(p.liveness ?? {}).map(([entity, fields]) => [entity, new Set(fields)] as const)));

export const PROJECTIONS: readonly Projection[] = [liveness, workers, sessions, catalog, queries, system];

/** Every record type a projection decides, with its handler; a record type belongs to one projection. */
export const handlerTable = (projections: readonly Projection[] = PROJECTIONS): ReadonlyMap<string, Handler<never>> => {
  const out = new Map<string, Handler<never>>();
  for (const p of projections) {
    for (const [type, h] of Object.entries(p.handlers)) {
      if (out.has(type)) throw new Error(`record type ${type} is decided by two projections`);
      out.set(type, h);
    }
  }
  return out;
};
