/** The error hierarchy: every error a user can meet carries a literal code and says whether retrying may help. */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'KAFKA_AUTH'
  | 'ACL_APPLY_FAILED'
  | 'INFRA_MISSING_TOOL'
  | 'INFRA_START_FAILED'
  | 'INFRA_TIMEOUT'
  | 'WIRE_MALFORMED'
  | 'SCHEMA_UNKNOWN'
  | 'SCHEMA_REGISTRY'
  | 'SCHEMA_REGISTRY_FORBIDDEN'
  | 'SCHEMA_INVALID'
  | 'HEADER_MISSING'
  | 'HEADER_INVALID'
  | 'REPLY_TO_FORBIDDEN'
  | 'REPLY_TOPIC_MISSING'
  | 'SCHEMA_SUBJECT_MISMATCH'
  | 'DECODE_LIMIT'
  | 'OUTPUT_TOO_LARGE'
  | 'PUBLISH_REFUSED'
  | 'PUBLISH_FAILED'
  | 'ENV_INVALID'
  | 'OFFSETS_PAST_END'
  | 'STORE_CORRUPT'
  | 'WRONG_TOPIC'
  | 'VALUE_TOO_LARGE'
  | 'ASK_TIMEOUT'
  | 'ASK_ABORTED'
  | 'BACKPRESSURE'
  | 'CLIENT_CLOSED'
  | 'CLIENT_JOIN_TIMEOUT'
  | 'FENCED'
  | 'TRANSACTIONAL_ID_FORBIDDEN'
  | 'DECIDER_FAILED'
  | 'STORE_CLOSED'
  | 'STORE_IO'
  | 'CHANGELOG_READ_TIMEOUT'
  | 'ROLE_TRANSITION_INVALID'
  | 'SIGNATURE_REFUSED'
  | 'PERMISSION_DENIED';

export class CoordError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CoordError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
  }
}

export const isCoordError = (err: unknown, code?: ErrorCode): err is CoordError =>
  typeof err === 'object' &&
  err !== null &&
  typeof (err as { code?: unknown }).code === 'string' &&
  (err as { name?: unknown }).name === 'CoordError' &&
  (code === undefined || (err as CoordError).code === code);

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
