/** The catalog projection: logical sources (physical sources and sinks join them here). */
import type { Projection } from '../types';
import { createLogicalSource, dropLogicalSource, getLogicalSource, LOGICAL_SOURCE } from './logical-sources';

export const catalog: Projection = {
  name: 'catalog',
  entities: [LOGICAL_SOURCE],
  handlers: {
    'coord.v1.CreateLogicalSource': createLogicalSource,
    'coord.v1.GetLogicalSource': getLogicalSource,
    'coord.v1.DropLogicalSource': dropLogicalSource,
  },
};
