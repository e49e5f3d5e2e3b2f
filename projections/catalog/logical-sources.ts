/** Logical sources: a name and a field schema. */
import { accept, reject, reply, type Decision, type Handler, type Image, type Payload, type StateView } from '../types';

export const LOGICAL_SOURCE = 'logical-source';

export interface FieldSpec {
  readonly name: string;
  readonly type: string;
}

export interface CreateLogicalSource {
  readonly name: string;
  readonly fields: readonly FieldSpec[];
}

export interface GetLogicalSource {
  readonly name: string;
}

export interface DropLogicalSource {
  readonly name: string;
  readonly cascade: boolean;
}

export interface LogicalSourceImage extends Image {
  readonly name: string;
  readonly fields: readonly { readonly name: string; readonly type: string }[];
  readonly createdAtTs: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

/** What is wrong with a name, or undefined when it is fine. */
export const nameProblem = (what: string, name: string): string | undefined =>
  NAME.test(name)
    ? undefined
    : `${what} name ${JSON.stringify(name)} is invalid: use 1 to 255 letters, digits, '_', '.' or '-', starting with a letter or '_'`;

const fieldsProblem = (fields: readonly FieldSpec[]): string | undefined => {
  if (fields.length === 0) return 'a logical source needs at least one field';
  const seen = new Set<string>();
  for (const f of fields) {
    const bad = nameProblem('field', f.name);
    if (bad !== undefined) return bad;
    if (f.type.trim() === '') return `field ${f.name} has an empty type`;
    if (seen.has(f.name)) return `field ${f.name} appears twice`;
    seen.add(f.name);
  }
  return undefined;
};

export const logicalSourcePayload = (image: LogicalSourceImage): Payload => ({
  type: 'coord.v1.LogicalSource',
  value: { name: image.name, fields: image.fields.map((f) => ({ name: f.name, type: f.type })) },
});

const lookup = (state: StateView, name: string): LogicalSourceImage | undefined =>
  state.get(LOGICAL_SOURCE, name) as LogicalSourceImage | undefined;

export const createLogicalSource: Handler<CreateLogicalSource> = {
  stage: 'catalog',
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

export const getLogicalSource: Handler<GetLogicalSource> = {
  stage: 'catalog',
  decide: (msg, state): Decision => {
    const found = lookup(state, msg.value.name);
    return found === undefined
      ? reject('NOT_FOUND', `logical source ${msg.value.name} does not exist`)
      : accept([], reply('OK', '', logicalSourcePayload(found)));
  },
};

export const dropLogicalSource: Handler<DropLogicalSource> = {
  stage: 'catalog',
  decide: (msg, state): Decision =>
    lookup(state, msg.value.name) === undefined
      ? reject('NOT_FOUND', `logical source ${msg.value.name} does not exist`)
      : accept([{ entity: LOGICAL_SOURCE, key: msg.value.name, image: null }], reply('OK', `dropped logical source ${msg.value.name}`)),
};
