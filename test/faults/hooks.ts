/**
 * Mocha root hooks of the fault tier: one real three-node Kafka cluster (replication 3,
 * min ISR 2) and one registry for every scenario of the run, started by the project's own code.
 */
process.env.TEST_BROKERS ??= '3';

export { mochaHooks } from '../support/stack-hooks';
