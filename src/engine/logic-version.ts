/**
 * The version of the deciding logic (projections/) this build folds with. Two builds of one
 * version decide the same from the same log, byte for byte; a change that makes a decider
 * decide differently bumps it. Every snapshot marker records the version that folded it, and
 * a folder built by `coordctl replay` records the version that built it (m/replay).
 *
 * A digest proves a snapshot only to a fold of the same version: a replay or a catch-up by
 * another version re-decides the snapshot under its own logic and does not compare digests,
 * so a standby running newer deciders can take over from an older active (README, "Upgrades").
 */
export const LOGIC_VERSION = 1;

/** What a fold's digest says about a recorded snapshot. */
export type DigestCheck =
  /** Same version, same digest: the fold reached the recorded state. */
  | 'proven'
  /** Same version, another digest: the fold diverged from the log. */
  | 'diverged'
  /** Folded by another version: the digests are not comparable. */
  | 'other-version';

export const checkDigest = (recorded: { readonly digest: string; readonly logicVersion: number }, actual: string, version: number = LOGIC_VERSION): DigestCheck =>
  recorded.logicVersion !== version ? 'other-version' : recorded.digest === actual ? 'proven' : 'diverged';
