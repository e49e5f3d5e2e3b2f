/**
 * The version of the deciding logic (projections/) this build folds with. Two builds of one
 * version decide the same from the same log, byte for byte; a change that makes a decider
 * decide differently bumps it. A folder built by `coordctl replay` records the version that
 * built it (m/replay). The snapshot markers do not carry it yet (see README, "Audits and
 * recovery"); once they do, a replay can tell which digests it can prove.
 */
export const LOGIC_VERSION = 1;
