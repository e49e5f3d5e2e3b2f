/** The catalog projection: logical sources, the physical sources that feed them, and sinks. */
import { LOGICAL_SOURCE, PHYSICAL_SOURCE, SINK } from '../model';
import type { HandlerMap, Projection } from '../types';
import { createLogicalSource, dropLogicalSource, getLogicalSource, listLogicalSources } from './logical-sources';
import { createPhysicalSource, dropPhysicalSource, getPhysicalSource, listPhysicalSources } from './physical-sources';
import { createSink, dropSink, getSink, listSinks } from './sinks';

export const catalog: Projection = {
  name: 'catalog',
  entities: [LOGICAL_SOURCE, PHYSICAL_SOURCE, SINK],
  versioned: [LOGICAL_SOURCE, PHYSICAL_SOURCE, SINK],
  // Physical sources are walked by placement and by a worker's death; logical sources and sinks only read by name.
  onDemand: [LOGICAL_SOURCE, SINK],
  handlers: {
    'coord.v1.CreateLogicalSource': createLogicalSource,
    'coord.v1.GetLogicalSource': getLogicalSource,
    'coord.v1.ListLogicalSources': listLogicalSources,
    'coord.v1.DropLogicalSource': dropLogicalSource,
    'coord.v1.CreatePhysicalSource': createPhysicalSource,
    'coord.v1.GetPhysicalSource': getPhysicalSource,
    'coord.v1.ListPhysicalSources': listPhysicalSources,
    'coord.v1.DropPhysicalSource': dropPhysicalSource,
    'coord.v1.CreateSink': createSink,
    'coord.v1.GetSink': getSink,
    'coord.v1.ListSinks': listSinks,
    'coord.v1.DropSink': dropSink,
  } satisfies HandlerMap,
};
