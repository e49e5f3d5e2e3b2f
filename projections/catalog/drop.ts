/** The drop of a catalog entity that queries depend on (a physical source, a sink). */
import { Draft } from '../draft';
import { each, QUERY, shown, type QueryImage } from '../model';
import { removeQuery } from '../queries/lifecycle';
import type { DropPhysicalSource, DropSink } from '../protocol.gen';
import { reject, reply, type Decision, type Entity, type Handler } from '../types';

/** How queries depend on the entity, and the words for it in a refusal: `sink x is used by query q; drop those first …`. */
export interface Dependents {
  readonly depends: (q: QueryImage, name: string) => boolean;
  readonly relation: string;
  readonly advice: string;
}

/** Refused while a query depends on the entity, unless `cascade`, which stops and drops those queries with it. */
export const dropDependedOn = (entity: Entity, noun: string, dependents: Dependents): Handler<DropPhysicalSource | DropSink> => ({
  stage: 'catalog',
  reads: (v) => [[entity, v.name]],
  decide: (msg, state, ctx): Decision => {
    const { name, cascade } = msg.value;
    if (state.get(entity, name) === undefined) return reject('NOT_FOUND', `${noun} ${shown(name)} does not exist`);
    const queries = each(state, QUERY).filter((q) => dependents.depends(q, name));
    if (!cascade && queries.length > 0)
      return reject('FAILED_PRECONDITION', `${noun} ${name} ${dependents.relation} query ${queries.map((q) => q.name).join(', ')}; ${dependents.advice} first or drop with cascade`);
    const draft = new Draft(state);
    for (const q of queries) removeQuery(draft, q, `${noun} ${name} was dropped with cascade`, ctx.logTimeMs);
    draft.delete(entity, name);
    return draft.decide(reply('OK', `dropped ${noun} ${name}${queries.length > 0 ? ` and ${queries.length} queries` : ''}`));
  },
});
