/**
 * The local configuration's only say in the settings: while the log has none set by a request,
 * the active coordinator proposes its own values as an `UpdateSettings { initial: true }`. The
 * fold applies the first proposal that reaches it and answers every later one (another
 * instance's, after a takeover) with nothing changed, so the settings never flip with the
 * instance that happens to be active.
 */
import type { Config } from '../config';
import type { Codec } from '../messaging/codec';
import { H } from '../messaging/headers';
import { signed, type Signer } from '../messaging/signing';
import { settingsOf, settingsRevision } from '../../projections/model';
import type { StateView } from '../../projections';

/** How long an instance waits for its proposal to be folded before it proposes again (a send that was lost). */
export const PROPOSE_AGAIN_MS = 10_000;

/** Whether the log still has no settings set by a request. */
export const needsInitialSettings = (state: StateView): boolean => settingsRevision(settingsOf(state)) === undefined;

/** The UpdateSettings value a configuration proposes, every setting given. */
export const initialSettingsValue = (config: Config): Record<string, unknown> => ({
  workerSuspectMs: { long: BigInt(config.workerSuspectMs) },
  workerTimeoutMs: { long: BigInt(config.workerTimeoutMs) },
  sessionTimeoutMs: { long: BigInt(config.clientSessionTimeoutMs) },
  maxAllocations: { int: config.maxAllocations },
  allocationIdleMs: { long: BigInt(config.allocationIdleMs) },
  maxCachedAllocations: { int: config.maxCachedAllocations },
  historyRetentionMs: { long: BigInt(config.historyRetentionMs) },
  maxValueBytes: { int: config.maxValueBytes },
  dedupeRetentionMs: { long: BigInt(config.dedupeRetentionMs) },
  goneRetentionMs: { long: BigInt(config.goneRetentionMs) },
  maxDeadlineMs: { long: BigInt(config.maxDeadlineMs) },
  signaturesRequired: { int: config.requireSignatures ? 1 : 0 },
  initial: true,
});

/** The record to append to `<prefix>.requests.system`; its reply goes to `<prefix>.replies`, where nobody needs to wait for it. */
export const initialSettingsMessage = async (
  codec: Codec,
  topics: { readonly system: string; readonly replies: string },
  config: Config,
  correlationId: string,
  signer?: Signer,
): Promise<{ key: string; value: Buffer; headers: Record<string, string> }> =>
  signed(signer, 'requests.system', {
    key: 'settings',
    value: await codec.encode(topics.system, 'coord.v1.UpdateSettings', initialSettingsValue(config)),
    headers: { [H.correlationId]: correlationId, [H.replyTo]: topics.replies },
  });
