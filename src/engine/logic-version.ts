/**
 * The version of the deciding logic (projections/) this build folds with. Two builds of one
 * version decide the same from the same log, byte for byte; a change that makes a decider
 * decide differently bumps it. Every snapshot marker records the version that folded it, and
 * a folder built by `coordctl replay` records the version that built it (m/replay).
 *
 * A digest proves a snapshot only to a fold of the same version: a replay or a catch-up by
 * another version re-decides the snapshot under its own logic and does not compare digests,
 * so a standby running newer deciders can take over from an older active (README, "Upgrades").
 *
 * 2: keys, signatures and owners (version 1 refused RegisterPrincipalKey and RevokePrincipalKey as WRONG_TOPIC).
 */
export const LOGIC_VERSION = 2;

/** What a fold's digest says about a recorded snapshot. */
export type DigestCheck =
  /** Same digest: the fold reached the recorded state (equal digests are equal states, whatever the versions). */
  | 'proven'
  /** Same version, another digest, on a state proven to be the log's: the fold diverged from the log. */
  | 'diverged'
  /** Another digest, folded by another version: it may decide differently, so this proves nothing. */
  | 'other-version'
  /**
   * Same version, another digest, but folded on a state not proven to be the log's (another
   * version decided an earlier snapshot again): not comparable either.
   */
  | 'unprovable';

/**
 * `baseProven`: whether the state the snapshot was folded on is proven to be the log's (the
 * previous snapshot was proven, or there was none). A proven snapshot proves the state again.
 */
export const checkDigest = (
  recorded: { readonly digest: string; readonly logicVersion: number },
  actual: string,
  version: number = LOGIC_VERSION,
  baseProven = true,
): DigestCheck => (recorded.digest === actual ? 'proven' : recorded.logicVersion !== version ? 'other-version' : baseProven ? 'diverged' : 'unprovable');

/** How a store's last snapshot relates to the log: the version that folded it, and whether its state is proven to be the log's. */
export interface Lineage {
  readonly logicVersion: number;
  readonly proven: boolean;
}

/**
 * Proofs along a chain of snapshots. Equal digests mean equal states, whatever the versions; a
 * different digest is a divergence only when the fold started from a state proven to be the
 * log's and decided as the marker's writer did (one version). Otherwise the fold's state is not
 * proven to be the log's, until a digest matches again.
 */
export class ProofChain {
  private proven: boolean;

  /** `from`: the lineage of the store folded on; undefined for an empty store (the log's state before its first snapshot). */
  constructor(from: Lineage | undefined) {
    this.proven = from === undefined || from.proven;
  }

  /** Whether the state the next snapshot is folded on is proven to be the log's. */
  baseProven(): boolean {
    return this.proven;
  }

  /** Records the check of the snapshot folded on that base. */
  folded(check: DigestCheck): void {
    this.proven = check === 'proven';
  }
}
