/** Mocha root hooks: one real stack for the whole integration run. */
import { startTestStack, testStackIfStarted } from './stack';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(600_000); // a cold machine downloads Kafka and the registry first
    await startTestStack();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await testStackIfStarted()?.stop();
  },
};
