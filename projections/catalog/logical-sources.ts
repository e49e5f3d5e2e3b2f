/** Logical sources: a name and a field schema. Dropping one that others use needs `cascade`. */
import { Draft } from '../draft';
import {
  each,
  LIMITS,
  LOGICAL_SOURCE,
  nameProblem,
  PHYSICAL_SOURCE,
  QUERY,
  shown,
  tooLong,
  type LogicalSourceImage,
} from '../model';
import type { CreateLogicalSource, DropLogicalSource, Field, GetLogicalSource, ListLogicalSources, LogicalSource } from '../protocol.gen';
import { removeQuery } from '../queries/lifecycle';
import { getHandler, listHandler } from '../reads';
import { accept, reject, reply, type Decision, type Handler, type Payload, type StateView } from '../types';

export { LOGICAL_SOURCE, nameProblem, type LogicalSourceImage } from '../model';

const fieldsProblem = (fields: readonly Field[]): string | undefined => {
  if (fields.length === 0) return 'a logical source needs at least one field';
  if (fields.length > LIMITS.fields) return `a logical source has ${fields.length} fields, more than the limit of ${LIMITS.fields}`;
  const seen = new Set<string>();
  for (const f of fields) {
    const bad = nameProblem('field', f.name) ?? tooLong(`the type of field ${f.name}`, f.type, LIMITS.fieldTypeChars);
    if (bad !== undefined) return bad;
    if (f.type.trim() === '') return `field ${f.name} has an empty type`;
    if (seen.has(f.name)) return `field ${f.name} appears twice`;
    seen.add(f.name);
  }
  return undefined;
};

export const logicalSourcePayload = (image: LogicalSourceImage): Payload => ({
  type: 'coord.v1.LogicalSource',
  value: { name: image.name, fields: image.fields.map((f) => ({ name: f.name, type: f.type })) } satisfies LogicalSource,
});

const lookup = (state: StateView, name: string): LogicalSourceImage | undefined =>
  state.get(LOGICAL_SOURCE, name);

export const createLogicalSource: Handler<CreateLogicalSource> = {
  stage: 'catalog',
  reads: (v) => [[LOGICAL_SOURCE, v.name]],
  decide: (msg, state, ctx): Decision => {
    const { name, fields } = msg.value;
    const problem = nameProblem('logical source', name) ?? fieldsProblem(fields);
    if (problem !== undefined) return reject('INVALID_ARGUMENT', problem);
    if (lookup(state, name) !== undefined) return reject('ALREADY_EXISTS', `logical source ${name} already exists`);
    const image: LogicalSourceImage = {
      name,
      fields: fields.map((f) => ({ name: f.name, type: f.type })),
      createdAtTs: ctx.snapshotTs.toString(),
    };
    return accept([{ entity: LOGICAL_SOURCE, key: name, image }], reply('OK', `created logical source ${name}`, logicalSourcePayload(image)));
  },
};

export const getLogicalSource: Handler<GetLogicalSource> = getHandler('catalog', LOGICAL_SOURCE, 'logical source', logicalSourcePayload);

export const listLogicalSources: Handler<ListLogicalSources> = listHandler('catalog', LOGICAL_SOURCE, 'logical sources', 'coord.v1.LogicalSourceList', 'logicalSources', logicalSourcePayload);

/**
 * Refused while queries read it or physical sources feed it, naming them; with `cascade` the
 * queries are stopped and dropped and the physical sources dropped with it.
 */
export const dropLogicalSource: Handler<DropLogicalSource> = {
  stage: 'catalog',
  reads: (v) => [[LOGICAL_SOURCE, v.name]],
  decide: (msg, state, ctx): Decision => {
    const { name, cascade } = msg.value;
    if (lookup(state, name) === undefined) return reject('NOT_FOUND', `logical source ${shown(name)} does not exist`);
    const queries = each(state, QUERY).filter((q) => q.sources.includes(name));
    const physical = each(state, PHYSICAL_SOURCE).filter((p) => p.logicalSource === name);
    if (!cascade && queries.length + physical.length > 0) {
      const users = [...queries.map((q) => `query ${q.name}`), ...physical.map((p) => `physical source ${p.name}`)];
      return reject('FAILED_PRECONDITION', `logical source ${name} is used by ${users.join(', ')}; drop those first or drop with cascade`);
    }
    const draft = new Draft(state);
    for (const q of queries) removeQuery(draft, q, `logical source ${name} was dropped with cascade`, ctx.logTimeMs);
    for (const p of physical) draft.delete(PHYSICAL_SOURCE, p.name);
    draft.delete(LOGICAL_SOURCE, name);
    const what = queries.length + physical.length === 0 ? '' : ` with ${queries.length} queries and ${physical.length} physical sources`;
    return draft.decide(reply('OK', `dropped logical source ${name}${what}`));
  },
};
