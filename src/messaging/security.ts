/** The Kafka connection's TLS and SASL options for kafkajs, from the configuration: CA, client certificate, SASL mechanism, token hook. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { OauthbearerProviderResponse, SASLOptions } from 'kafkajs';
import { kafkaTls, type Config } from '../config';
import { CoordError } from '../errors';

export type KafkaSecuritySettings = Partial<
  Pick<
    Config,
    | 'kafkaSecurityProtocol'
    | 'kafkaSslCaLocation'
    | 'kafkaSslCertLocation'
    | 'kafkaSslKeyLocation'
    | 'kafkaOauthTokenCommand'
    | 'kafkaAllowPlainWithoutTls'
  >
> &
  Pick<Config, 'kafkaSsl' | 'kafkaSaslMechanism' | 'kafkaSaslUsername' | 'kafkaSaslPassword'>;

/** A library user's way to give OAUTHBEARER tokens (from an identity provider's SDK, say) instead of a command. */
export type OauthBearerProvider = () => Promise<OauthbearerProviderResponse>;

export interface KafkaSecurityHooks {
  readonly oauthBearerProvider?: OauthBearerProvider;
}

const readPem = (what: string, file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CoordError('CONFIG_INVALID', `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
};

/** kafkajs's `ssl` option: false, true (Node's default CAs), or the CA and client certificate read from their files. */
export const kafkaSslOptions = (c: KafkaSecuritySettings): boolean | ConnectionOptions => {
  if (!kafkaTls({ kafkaSsl: c.kafkaSsl, kafkaSecurityProtocol: c.kafkaSecurityProtocol, kafkaSslCaLocation: c.kafkaSslCaLocation, kafkaSslCertLocation: c.kafkaSslCertLocation }))
    return false;
  if (c.kafkaSslCaLocation === undefined && c.kafkaSslCertLocation === undefined) return true;
  const opts: ConnectionOptions = { rejectUnauthorized: true };
  if (c.kafkaSslCaLocation !== undefined) opts.ca = [readPem('the CA file (kafkaSslCaLocation)', c.kafkaSslCaLocation)];
  if (c.kafkaSslCertLocation !== undefined) opts.cert = readPem('the client certificate (kafkaSslCertLocation)', c.kafkaSslCertLocation);
  if (c.kafkaSslKeyLocation !== undefined) opts.key = readPem('the client key (kafkaSslKeyLocation)', c.kafkaSslKeyLocation);
  return opts;
};

/** The output of a token command: a bare token, or JSON with `value` or `access_token`. */
export const parseToken = (out: string): OauthbearerProviderResponse => {
  const text = out.trim();
  if (text.startsWith('{')) {
    const j = JSON.parse(text) as { value?: unknown; access_token?: unknown };
    const value = typeof j.value === 'string' ? j.value : typeof j.access_token === 'string' ? j.access_token : undefined;
    if (value !== undefined && value !== '') return { value };
  } else if (text !== '') return { value: text };
  throw new CoordError('CONFIG_INVALID', 'the OAUTHBEARER token command printed no token (a bare token, or JSON with "value" or "access_token")');
};

/** Runs the token command, bounded: a hung identity provider must not hang the connection for ever. */
export const tokenFromCommand =
  (command: string, timeoutMs = 10_000): OauthBearerProvider =>
  () => {
    try {
      return Promise.resolve(parseToken(execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8', timeout: timeoutMs })));
    } catch (err) {
      return Promise.reject(new CoordError('KAFKA_AUTH', `the OAUTHBEARER token command failed: ${(err as Error).message.slice(0, 500)}`, { cause: err }));
    }
  };

/** kafkajs's `sasl` option, or undefined when the connection has no SASL. */
export const kafkaSaslOptions = (c: KafkaSecuritySettings, hooks: KafkaSecurityHooks = {}): SASLOptions | undefined => {
  const m = c.kafkaSaslMechanism;
  if (m === undefined) return undefined;
  if (m === 'oauthbearer') {
    const provider = hooks.oauthBearerProvider ?? (c.kafkaOauthTokenCommand !== undefined ? tokenFromCommand(c.kafkaOauthTokenCommand) : undefined);
    if (provider === undefined)
      throw new CoordError('CONFIG_INVALID', 'SASL OAUTHBEARER needs a token: set kafkaOauthTokenCommand (KAFKA_OAUTH_TOKEN_COMMAND) or pass an oauthBearerProvider');
    return { mechanism: 'oauthbearer', oauthBearerProvider: provider };
  }
  // Checked here too, for connections built without makeConfig.
  if (m === 'plain' && kafkaSslOptions(c) === false && c.kafkaAllowPlainWithoutTls !== true)
    throw new CoordError('CONFIG_INVALID', 'SASL PLAIN without TLS would send the password in clear: use TLS, or set kafkaAllowPlainWithoutTls on a trusted network');
  return { mechanism: m, username: c.kafkaSaslUsername ?? '', password: c.kafkaSaslPassword ?? '' } as SASLOptions;
};
