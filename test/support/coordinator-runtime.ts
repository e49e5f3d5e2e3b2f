/**
 * The memory settings `./coordctl` gives the coordinator's node (README, Performance), for a
 * benchmark step that runs coordinator code in a process of its own and should be measured as
 * the coordinator runs. `test/unit/coordinator-runtime.spec.ts` checks that coordctl sets these.
 */
export const COORDCTL_MALLOC_ARENA_MAX = '2';
export const COORDCTL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--heap-growing-percent=200'];

/** The environment and node flags of a process run as coordctl runs the coordinator. */
export const asCoordctlRuns = (env: NodeJS.ProcessEnv = process.env): { env: NodeJS.ProcessEnv; nodeFlags: readonly string[] } => ({
  env: { ...env, MALLOC_ARENA_MAX: COORDCTL_MALLOC_ARENA_MAX },
  nodeFlags: COORDCTL_NODE_FLAGS,
});
