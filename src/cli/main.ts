#!/usr/bin/env node
/** coordctl: the operator's command line. */
import { errorMessage, isCoordError } from '../errors';
import { createLogger } from '../log';
import { aclCommand } from './acl';
import { inspectCommand } from './inspect';
import { replayCommand } from './replay';
import { changelogCommand } from './changelog';
import { isRequestNoun, usageLines, UsageError } from './commands';
import { requestCommand } from './requests';
import { loadConfig } from '../config';
import { writeFileSync } from 'node:fs';
import { provision } from '../messaging/provision';
import { generateSigningKey } from '../messaging/signing';
import { projectRoot } from '../messaging/schemas';
import { createParts } from '../runtime';
import { envWithRunFile, infraDown, infraUp, runAllCommand, runCoordinatorCommand } from './serve';

const USAGE = `coordctl — an event-sourced coordinator on Apache Kafka

  coordctl run                                 Kafka, registry and coordinator in the foreground (Ctrl-C stops all)
  coordctl infra up | down                     start (in the background) or stop the local Kafka and registry
  coordctl coordinator                         the coordinator alone, against .coord/run.env or the environment
  coordctl provision                           create the topics and register the schemas on any cluster
  coordctl acl plan | apply [--role R]         print or apply (idempotently) the least-privilege ACLs of each role
  coordctl keygen FILE                         a new Ed25519 signing key in FILE (PEM, mode 0600); prints its public key
  coordctl replay --to DIR [--verify] [--until SNAPSHOT|TS|ISO-TIME]
                                               rebuild the state from the log; --verify checks every snapshot's digest;
                                               --until stops at the last snapshot at or before that point
  coordctl inspect DIR describe | diff OTHER_DIR | NOUN get|list ...
                                               read a replayed or stopped coordinator's folder, with no broker
                                               (coordctl inspect --help)
  coordctl changelog tail [--from-beginning] [--entity TYPE] [--json] [--legacy]
                                               follow every change as it is published, typed images, until Ctrl-C
                                               (--legacy: the JSON-image changelog of earlier releases)
  coordctl changelog table ENTITY [--as-of TS] [--json]
                                               the table a consumer rebuilds from ENTITY's compacted topic

Requests (a status line, then a table or the entity; exit code 0 for OK, 2 for any other status):

${usageLines()}
TS is a hybrid timestamp (physical ms << 18 | logical, as snapshotTs in --json and describe print it)
or an ISO-8601 time such as 2026-11-21T15:07:58Z; --as-of reads the state as it stood then.
Any request command takes --help.

Flags: --json prints the reply as one JSON line (longs as strings, unions unwrapped) for scripts;
any configuration key as --kebab-name=value (see README).
`;

const main = async (argv: string[]): Promise<number> => {
  const [cmd, sub] = argv;
  const log = createLogger('info', { component: 'coordctl' });
  switch (cmd) {
    case 'run':
      await runAllCommand(argv.slice(1));
      return 0;
    case 'coordinator':
      await runCoordinatorCommand(argv.slice(1));
      return process.exitCode === undefined ? 0 : Number(process.exitCode);
    case 'infra':
      if (sub === 'up') await infraUp({ detached: true }, log);
      else if (sub === 'down') await infraDown(log);
      else throw new UsageError('coordctl infra up | down');
      return 0;
    case 'provision': {
      const { config } = loadConfig(envWithRunFile(projectRoot()), argv.slice(1));
      await provision({ config, codec: createParts(config, 'coordctl', log).codec, log });
      log.info('topics and schemas are in place', { prefix: config.topicPrefix, brokers: config.kafkaBrokers.join(',') });
      return 0;
    }
    case 'acl':
      return aclCommand(argv.slice(1));
    case 'keygen': {
      if (sub === undefined) throw new UsageError('coordctl keygen FILE');
      const { privateKeyPem, publicKey } = generateSigningKey();
      writeFileSync(sub, privateKeyPem, { mode: 0o600, flag: 'wx' });
      process.stdout.write(`${publicKey}\n`);
      return 0;
    }
    case 'replay':
      return replayCommand(argv.slice(1));
    case 'inspect':
      return inspectCommand(argv.slice(1));
    case 'changelog':
      return changelogCommand(argv.slice(1));
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    default:
      if (isRequestNoun(cmd)) return requestCommand(cmd, argv.slice(1));
      throw new UsageError(`unknown command ${cmd}`);
  }
};

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n\n${err.usage ?? USAGE}`);
    else process.stderr.write(`coordctl: ${isCoordError(err) ? `[${err.code}] ` : ''}${errorMessage(err)}\n`);
    process.exit(err instanceof UsageError ? 64 : 1);
  },
);
