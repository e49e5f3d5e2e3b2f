/** Sinks: where a query's results go. */
import { Draft } from '../draft';
import { each, nameProblem, optionsProblem, QUERY, shown, SINK, sortedOptions, tooLong, type SinkImage } from '../model';
import { removeQuery } from '../queries/lifecycle';
import { getHandler, listHandler } from '../reads';
import { accept, reject, reply, type Decision, type Handler, type Payload } from '../types';

export interface CreateSink {
  readonly name: string;
  readonly type: string;
  readonly options: Readonly<Record<string, string>>;
}

export const sinkPayload = (s: SinkImage): Payload => ({ type: 'coord.v1.Sink', value: { name: s.name, type: s.type, options: { ...s.options } } });

export const createSink: Handler<CreateSink> = {
  stage: 'catalog',
  decide: (msg, state, ctx): Decision => {
    const v = msg.value;
    const bad =
      nameProblem('sink', v.name) ??
      (v.type.trim() === '' ? 'a sink needs a type, e.g. kafka or print' : tooLong(`the type of sink ${v.name}`, v.type)) ??
      optionsProblem(`sink ${v.name}`, v.options);
    if (bad !== undefined) return reject('INVALID_ARGUMENT', bad);
    if (state.get(SINK, v.name) !== undefined) return reject('ALREADY_EXISTS', `sink ${v.name} already exists`);
    const image: SinkImage = { name: v.name, type: v.type, options: sortedOptions(v.options), createdAtTs: ctx.snapshotTs.toString() };
    return accept([{ entity: SINK, key: v.name, image }], reply('OK', `created sink ${v.name}`, sinkPayload(image)));
  },
};

export const getSink = getHandler('catalog', SINK, 'sink', sinkPayload);

export const listSinks = listHandler('catalog', SINK, 'sinks', 'coord.v1.SinkList', 'sinks', sinkPayload);

/** Refused while a query writes to it, unless `cascade`, which stops and drops those queries. */
export const dropSink: Handler<{ readonly name: string; readonly cascade: boolean }> = {
  stage: 'catalog',
  decide: (msg, state, ctx): Decision => {
    const { name, cascade } = msg.value;
    if (state.get(SINK, name) === undefined) return reject('NOT_FOUND', `sink ${shown(name)} does not exist`);
    const writers = each(state, QUERY).filter((q) => q.sink === name);
    if (!cascade && writers.length > 0) return reject('FAILED_PRECONDITION', `sink ${name} is used by query ${writers.map((q) => q.name).join(', ')}; drop those first or drop with cascade`);
    const draft = new Draft(state);
    for (const q of writers) removeQuery(draft, q, `sink ${name} was dropped with cascade`, ctx.logTimeMs);
    draft.delete(SINK, name);
    return draft.decide(reply('OK', `dropped sink ${name}${writers.length > 0 ? ` and ${writers.length} queries` : ''}`));
  },
};
