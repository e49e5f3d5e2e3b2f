/** The projection registry: adding a projection means adding it to this table, nothing else. */
import { catalog } from './catalog';
import { liveness } from './liveness';
import { sessions } from './sessions';
import { workers } from './workers';
import type { Handler, Projection } from './types';
export * from './types';

export const PROJECTIONS: readonly Projection[] = [liveness, workers, sessions, catalog];

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
