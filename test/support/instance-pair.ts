/** The set-up of every takeover test: a deployment, two coordinator processes on it (the first started) and a client. */
import type { Client } from '../../src/client/client';
import { coordinatorProcess, type CoordinatorProcess } from './coordinator-process';
import { deployment, type Deployment } from './deployment';
import { testStack } from './stack';

export interface InstancePair {
  readonly d: Deployment;
  /** Started, and active once it has joined. */
  readonly a: CoordinatorProcess;
  /** Not started: each test starts it when its story needs a standby. */
  readonly b: CoordinatorProcess;
  readonly client: Client;
  /** Closes the clients and stops both processes, whatever state each is in. */
  close(): Promise<void>;
}

export const instancePair = async (name: string, env: Record<string, string>): Promise<InstancePair> => {
  const d = await deployment(testStack(), name);
  const a = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${name}-a`, env });
  const b = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${name}-b`, env });
  await a.start();
  const client = await d.client();
  return {
    d,
    a,
    b,
    client,
    close: async () => {
      await d.close();
      await a.stop();
      await b.stop();
    },
  };
};

/**
 * What a suite's variables hold before its `before` hook has made the pair: closing it does
 * nothing, so an `after` hook may close whatever is there. Read nothing else from it.
 */
export const UNSTARTED = { close: async () => undefined } as unknown as InstancePair;
