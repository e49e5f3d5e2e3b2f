#!/usr/bin/env node
/** coordctl: the operator's command line. */
import { errorMessage, isCoordError } from '../errors';
import { createLogger } from '../log';
import { replayCommand } from './replay';
import { requestCommand, UsageError } from './requests';
import { loadConfig } from '../config';
import { provision } from '../messaging/provision';
import { projectRoot } from '../messaging/schemas';
import { createParts } from '../runtime';
import { envWithRunFile, infraDown, infraUp, runAllCommand, runCoordinatorCommand } from './serve';

const USAGE = `coordctl — an event-sourced coordinator on Apache Kafka

  coordctl run                                 Kafka, registry and coordinator in the foreground (Ctrl-C stops all)
  coordctl infra up | down                     start (in the background) or stop the local Kafka and registry
  coordctl coordinator                         the coordinator alone, against .coord/run.env or the environment
  coordctl provision                           create the topics and register the schemas on any cluster
  coordctl replay --to DIR [--verify]          rebuild the state from the log; --verify checks every snapshot's digest
  coordctl logical-source create NAME F:T...   create a logical source, e.g. cars id:INT64 speed:FLOAT64
  coordctl logical-source get NAME             read one
  coordctl logical-source drop NAME [--cascade] drop one
  coordctl workers list [--all]                the workers and their state (--all: the dead and gone too)

Flags: --json for scripts; any configuration key as --kebab-name=value (see README).
`;

const main = async (argv: string[]): Promise<number> => {
  const [cmd, sub, ...rest] = argv;
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
    case 'replay':
      return replayCommand(argv.slice(1));
    case 'logical-source':
    case 'workers':
      return requestCommand(cmd, sub ?? '', rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command ${cmd}`);
  }
};

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n\n${USAGE}`);
    else process.stderr.write(`coordctl: ${isCoordError(err) ? `[${err.code}] ` : ''}${errorMessage(err)}\n`);
    process.exit(err instanceof UsageError ? 64 : 1);
  },
);
