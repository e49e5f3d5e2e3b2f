/** The queries projection: queries, their fragments on workers, and the slots they hold. */
import { ALLOCATION, QUERY } from '../model';
import type { Projection } from '../types';
import { createQuery, dropQuery, fragmentStatus, getQuery, listQueries, startQuery, stopQueryHandler } from './queries';

export const queries: Projection = {
  name: 'queries',
  entities: [QUERY, ALLOCATION],
  versioned: [QUERY],
  handlers: {
    'coord.v1.CreateQuery': createQuery,
    'coord.v1.StartQuery': startQuery,
    'coord.v1.StopQuery': stopQueryHandler,
    'coord.v1.DropQuery': dropQuery,
    'coord.v1.GetQuery': getQuery,
    'coord.v1.ListQueries': listQueries,
    'coord.v1.FragmentStatus': fragmentStatus,
  },
};
