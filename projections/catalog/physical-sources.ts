/** Physical sources: where a logical source's data enters, on one worker, through a connector. */
import {
  gone,
  LOGICAL_SOURCE,
  PHYSICAL_SOURCE,
  shown,
  sortedOptions,
  workerOf,
  type PhysicalSourceImage,
} from '../model';
import type { CreatePhysicalSource, DropPhysicalSource, GetPhysicalSource, ListPhysicalSources, PhysicalSource } from '../protocol.gen';
import { live } from '../queries/lifecycle';
import { getHandler, listHandler } from '../reads';
import { accept, reject, reply, unwrap, type Decision, type Handler, type Payload } from '../types';
import { creationRefused } from './create';
import { dropDependedOn } from './drop';

export const physicalSourcePayload = (p: PhysicalSourceImage): Payload => ({
  type: 'coord.v1.PhysicalSource',
  value: { name: p.name, logicalSource: p.logicalSource, workerId: p.workerId, connectorType: p.connectorType, options: { ...p.options }, available: p.available } satisfies PhysicalSource,
});

export const createPhysicalSource: Handler<CreatePhysicalSource> = {
  stage: 'catalog',
  reads: (v) => [[LOGICAL_SOURCE, v.logicalSource]],
  decide: (msg, state, ctx): Decision => {
    const v = msg.value;
    const refused = creationRefused(state, PHYSICAL_SOURCE, 'physical source', v, {
      label: 'connector type',
      value: v.connectorType,
      missing: 'a physical source needs a connector type',
    });
    if (refused !== undefined) return refused;
    if (state.get(LOGICAL_SOURCE, v.logicalSource) === undefined) return reject('NOT_FOUND', `logical source ${shown(v.logicalSource)} does not exist`);
    const w = workerOf(state, v.workerId);
    if (w === undefined || gone(w))
      return reject('FAILED_PRECONDITION', `worker ${shown(v.workerId)} is ${w === undefined ? 'not registered' : w.state}; a physical source lives on a registered worker`);
    const image: PhysicalSourceImage = {
      name: v.name,
      logicalSource: v.logicalSource,
      workerId: v.workerId,
      connectorType: v.connectorType,
      options: sortedOptions(v.options),
      available: true,
      createdAtTs: ctx.snapshotTs.toString(),
    };
    return accept([{ entity: PHYSICAL_SOURCE, key: v.name, image }], reply('OK', `created physical source ${v.name} on worker ${v.workerId}`, physicalSourcePayload(image)));
  },
};

export const getPhysicalSource: Handler<GetPhysicalSource> = getHandler('catalog', PHYSICAL_SOURCE, 'physical source', physicalSourcePayload);

export const listPhysicalSources: Handler<ListPhysicalSources> = listHandler(
  'catalog',
  PHYSICAL_SOURCE,
  'physical sources',
  'coord.v1.PhysicalSourceList',
  'physicalSources',
  physicalSourcePayload,
  (p, request: ListPhysicalSources) => {
    const of = unwrap(request.logicalSource);
    return of === null || p.logicalSource === of;
  },
);

/** Refused while a running query reads it, unless `cascade`, which stops and drops those queries. */
export const dropPhysicalSource: Handler<DropPhysicalSource> = dropDependedOn(PHYSICAL_SOURCE, 'physical source', {
  depends: (q, name) => live(q.state) && q.fragments.some((f) => f.physicalSource === name),
  relation: 'is read by',
  advice: 'stop it',
});
