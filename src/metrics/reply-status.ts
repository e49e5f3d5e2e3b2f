/**
 * The status of an encoded Reply, read off its first bytes: counting replies by status must not
 * cost a decode of every payload (a List can be large), so only the leading fields are read.
 */
import type * as avro from 'avsc';
import type { Contract } from '../messaging/schemas';

/** A zigzag varint at `at`: the value and where the next field starts, or undefined when cut short. */
const varint = (b: Buffer, at: number): [number, number] | undefined => {
  let n = 0;
  let scale = 1;
  for (let o = at; o < b.length && o - at < 10; o++) {
    n += (b[o] & 0x7f) * scale;
    scale *= 128;
    if ((b[o] & 0x80) === 0) return [n % 2 === 0 ? n / 2 : -(n + 1) / 2, o + 1];
  }
  return undefined;
};

/**
 * A reader of `Reply` values in the Confluent wire format (magic byte, schema id, Avro body).
 * It relies on the contract's order, `correlationId` (string) then `status` (enum), and checks
 * it here, so a contract that moves them fails at start rather than counting wrong.
 */
export const replyStatusReader = (reply: Contract): ((value: Buffer) => string | undefined) => {
  const fields = (reply.type as avro.types.RecordType).fields;
  const status = fields[1]?.type as avro.types.EnumType | undefined;
  if (fields[0]?.name !== 'correlationId' || fields[0].type.typeName !== 'string' || fields[1]?.name !== 'status' || status?.typeName !== 'enum')
    throw new Error(`${reply.fullName} no longer starts with correlationId (string) and status (enum); update src/metrics/reply-status.ts`);
  const symbols = status.symbols;
  return (value) => {
    if (value.length < 6 || value[0] !== 0) return undefined;
    const id = varint(value, 5);
    if (id === undefined || id[0] < 0) return undefined;
    const index = varint(value, id[1] + id[0]);
    return index === undefined ? undefined : symbols[index[0]];
  };
};

/** The statuses a Reply can carry, in the contract's order. */
export const replyStatuses = (reply: Contract): readonly string[] => ((reply.type as avro.types.RecordType).fields[1]?.type as avro.types.EnumType).symbols;
