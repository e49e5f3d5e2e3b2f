/** The queries projection: queries, their fragments on workers, and the slots they hold. */
import { ALLOCATION, QUERY } from '../model';
import { ownerOnly, workerOnly } from '../owners';
import type { HandlerMap, Projection } from '../types';
import { createQuery, dropQuery, fragmentStatus, getQuery, listQueries, startQuery, stopQueryHandler } from './queries';

export const queries: Projection = {
  name: 'queries',
  entities: [QUERY, ALLOCATION],
  versioned: [QUERY],
  handlers: {
    'coord.v1.CreateQuery': createQuery,
    'coord.v1.StartQuery': startQuery,
    'coord.v1.StopQuery': ownerOnly(stopQueryHandler, QUERY, (v) => v.name, (q) => `stop query ${q}`),
    'coord.v1.DropQuery': ownerOnly(dropQuery, QUERY, (v) => v.name, (q) => `drop query ${q}`),
    'coord.v1.GetQuery': getQuery,
    'coord.v1.ListQueries': listQueries,
    'coord.v1.FragmentStatus': workerOnly(fragmentStatus),
  } satisfies HandlerMap,
};
