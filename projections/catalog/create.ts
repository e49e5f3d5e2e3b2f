/** The checks a create of a connector-like catalog entity (a physical source, a sink) opens with. */
import { nameProblem, optionsProblem, tooLong } from '../model';
import { reject, type Decision, type Entity, type StateView } from '../types';

/** What names the entity's kind of connector: a physical source's connector type, a sink's type. */
export interface KindField {
  /** Its words in a refusal: `the ${label} of sink x is too long`. */
  readonly label: string;
  readonly value: string;
  /** The refusal when it is blank, with an example. */
  readonly missing: string;
}

/**
 * INVALID_ARGUMENT for a bad name, a blank or too long kind, or bad options; ALREADY_EXISTS for a
 * name in use; undefined when the create may go on to its own checks.
 */
export const creationRefused = (
  state: StateView,
  entity: Entity,
  noun: string,
  v: { readonly name: string; readonly options: Readonly<Record<string, string>> },
  kind: KindField,
): Decision | undefined => {
  const bad =
    nameProblem(noun, v.name) ??
    (kind.value.trim() === '' ? kind.missing : tooLong(`the ${kind.label} of ${noun} ${v.name}`, kind.value)) ??
    optionsProblem(`${noun} ${v.name}`, v.options);
  if (bad !== undefined) return reject('INVALID_ARGUMENT', bad);
  if (state.get(entity, v.name) !== undefined) return reject('ALREADY_EXISTS', `${noun} ${v.name} already exists`);
  return undefined;
};
