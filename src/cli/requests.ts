/** Request commands: send one request through the public protocol and print its reply. */
import { createClient } from '../client/client';
import { signerFromConfig } from '../messaging/signing';
import { loadConfig } from '../config';
import { CoordError } from '../errors';
import { createLogger } from '../log';
import { loadContracts, projectRoot } from '../messaging/schemas';
import { createParts } from '../runtime';
import { parseCommand } from './commands';
import { payloadTypes, replyJson, replyText, unwrapReply } from './format';
import { envWithRunFile } from './serve';

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** `coordctl NOUN [VERB] ARGS...`: exit code 0 for OK, 2 for any other status. */
export const requestCommand = async (noun: string, argv: readonly string[]): Promise<number> => {
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), argv);
  const parsed = parseCommand(noun, rest);
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.usage);
    return 0;
  }
  const { request, json } = parsed;
  const reply = loadContracts().get('coord.v1.Reply');
  if (reply === undefined) throw new CoordError('SCHEMA_UNKNOWN', 'schemas/ holds no coord.v1.Reply; is the checkout complete?');
  const types = payloadTypes(reply.type);
  const log = createLogger('warn', { component: 'coordctl' });
  const { kafka, codec } = createParts(config, 'coordctl', log);
  const client = createClient({ kafka, codec, log, topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: config.askTimeoutMs, signer: signerFromConfig(config) });
  await client.start();
  try {
    // A deadline is the coordinator's to enforce (it answers ABORTED or DEADLINE_EXCEEDED); wait long enough to hear it.
    const opts =
      request.deadlineInMs === undefined
        ? {}
        : { deadlineMs: Date.now() + request.deadlineInMs, timeoutMs: Math.min(config.askTimeoutMs + request.deadlineInMs, MAX_TIMER_MS) };
    const answer = unwrapReply(await client.ask(request.type, request.value, opts), types);
    process.stdout.write(json ? replyJson(answer) : replyText(answer));
    return answer.status === 'OK' ? 0 : 2;
  } finally {
    await client.close();
  }
};
