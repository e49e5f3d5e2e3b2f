/** The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro binary body. */
import { CoordError } from '../errors';

export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

/** Writes the frame's header (magic byte, schema id) into the first HEADER_BYTES of `out`; the body goes after it. */
export const writeFrameHeader = (out: Buffer, schemaId: number): void => {
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeUInt32BE(schemaId, 1);
};

export const frame = (schemaId: number, body: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  writeFrameHeader(out, schemaId);
  body.copy(out, HEADER_BYTES);
  return out;
};

export const unframe = (value: Buffer | null): { schemaId: number; body: Buffer } => {
  if (value === null || value.length === 0) throw new CoordError('WIRE_MALFORMED', 'the value is empty; expected Confluent-framed Avro');
  if (value.length < HEADER_BYTES)
    throw new CoordError('WIRE_MALFORMED', `the value has ${value.length} bytes; a Confluent frame needs at least ${HEADER_BYTES}`);
  if (value[0] !== MAGIC_BYTE)
    throw new CoordError('WIRE_MALFORMED', `the value starts with byte ${value[0]}; Confluent-framed Avro starts with magic byte 0`);
  return { schemaId: value.readUInt32BE(1), body: value.subarray(HEADER_BYTES) };
};
