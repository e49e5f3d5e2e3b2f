/** Sinks: where a query's results go. */
import { SINK, sortedOptions, type SinkImage } from '../model';
import type { CreateSink, DropSink, GetSink, ListSinks, Sink } from '../protocol.gen';
import { getHandler, listHandler } from '../reads';
import { accept, reply, type Decision, type Handler, type Payload } from '../types';
import { creationRefused } from './create';
import { dropDependedOn } from './drop';

export const sinkPayload = (s: SinkImage): Payload => ({ type: 'coord.v1.Sink', value: { name: s.name, type: s.type, options: { ...s.options } } satisfies Sink });

export const createSink: Handler<CreateSink> = {
  stage: 'catalog',
  reads: (v) => [[SINK, v.name]],
  decide: (msg, state, ctx): Decision => {
    const v = msg.value;
    const refused = creationRefused(state, SINK, 'sink', v, { label: 'type', value: v.type, missing: 'a sink needs a type, e.g. kafka or print' });
    if (refused !== undefined) return refused;
    const image: SinkImage = { name: v.name, type: v.type, options: sortedOptions(v.options), createdAtTs: ctx.snapshotTs.toString() };
    return accept([{ entity: SINK, key: v.name, image }], reply('OK', `created sink ${v.name}`, sinkPayload(image)));
  },
};

export const getSink: Handler<GetSink> = getHandler('catalog', SINK, 'sink', sinkPayload);

export const listSinks: Handler<ListSinks> = listHandler('catalog', SINK, 'sinks', 'coord.v1.SinkList', 'sinks', sinkPayload);

/** Refused while a query writes to it, unless `cascade`, which stops and drops those queries. */
export const dropSink: Handler<DropSink> = dropDependedOn(SINK, 'sink', { depends: (q, name) => q.sink === name, relation: 'is used by', advice: 'drop those' });
