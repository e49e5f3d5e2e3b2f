/**
 * Where a reply may go (the `reply-to` rule of the protocol, README "What is refused, and why"): the deployment's replies topic, a client's private
 * `<prefix>.replies.<name>`, or an existing topic outside the prefix; never the coordinator's
 * own topics, which it reads or whose readers trust what it writes there, and never `__*`.
 */

/** Kafka's own rule for a topic name: at most 249 of these characters, and not `.` or `..`. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** At most this many characters of client input are echoed in an error. */
const ECHO_CHARS = 64;

/** A client's value as an error may quote it: bounded, so no header or name makes an error as large as itself. */
export const shown = (value: string): string =>
  value.length <= ECHO_CHARS ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, ECHO_CHARS))}… (${value.length} characters)`;

/** What is wrong with replying to `topic`, or undefined when a reply may go there. */
export const replyToProblem = (prefix: string, topic: string): string | undefined => {
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..')
    return `reply-to ${shown(topic)} is not a Kafka topic name (1 to 249 letters, digits, '.', '_' or '-')`;
  if (topic.startsWith('__')) return `reply-to ${shown(topic)} is one of Kafka's internal topics`;
  const replies = `${prefix}.replies`;
  if (topic === replies || topic.startsWith(`${replies}.`)) return undefined;
  if (topic.startsWith(`${prefix}.`))
    return `reply-to ${shown(topic)} is one of the coordinator's own topics; use ${replies} or ${replies}.<your name>`;
  return undefined;
};
