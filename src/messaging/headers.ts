/** Header names of the public protocol and helpers to read them from kafkajs's loose header type. */

export const H = Object.freeze({
  correlationId: 'correlation-id',
  replyTo: 'reply-to',
  deadlineMs: 'deadline-ms',
  snapshotId: 'snapshot-id',
  /** On a changelog table's tombstone: its snapshot's hybrid timestamp, which a null value cannot carry. */
  snapshotTs: 'snapshot-ts',
  seq: 'seq',
  generation: 'generation',
  /** On replies: the fingerprint of the request answered (src/messaging/fingerprint.ts), so a client takes only its own. */
  fingerprint: 'request-fingerprint',
  /** On snapshot markers: input records on the log that the coordinator had not folded yet. */
  lag: 'lag',
  dlqReason: 'dlq-reason',
  dlqCode: 'dlq-code',
  dlqTopic: 'dlq-topic',
  dlqPartition: 'dlq-partition',
  dlqOffset: 'dlq-offset',
  /** How many of the original record's headers were left out of its DLQ copy for their size. */
  dlqHeadersDropped: 'dlq-headers-dropped',
});

export type RawHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;
export type Headers = Record<string, string>;

/** The first value of each header as UTF-8; repeated headers keep their first value. */
export const readHeaders = (raw: RawHeaders | undefined): Headers => {
  const out: Headers = {};
  if (raw === undefined) return out;
  for (const [name, value] of Object.entries(raw)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
};
