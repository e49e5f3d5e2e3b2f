/**
 * Owners: sessions, queries and read holds belong to the verified principal that made them, and
 * a worker to the principal that registered it. Only the owner, or an admin, may close, stop,
 * drop, release or speak for them; anyone else gets PERMISSION_DENIED (an event, which has no
 * reply, goes to the DLQ with it). Without signatures there is no principal: every sender counts
 * as an admin, and nothing records an owner, so images stay as they were before owners existed.
 */
import { isAdmin } from './admin';
import { shown, WORKER } from './model';
import { reject, type Decision, type Entity, type Handler, type Image, type Message } from './types';

/** The owner field a new image takes from its sender: none without a verified principal. */
export const ownedBy = (msg: Pick<Message<unknown>, 'principal'>): { owner?: string } => (msg.principal === undefined ? {} : { owner: msg.principal.name });

/** PERMISSION_DENIED when the sender neither owns `image` nor is an admin; undefined when it may. */
export const notOwner = (msg: Pick<Message<unknown>, 'principal'>, image: Image | undefined, what: string): Decision | undefined => {
  if (image === undefined || isAdmin(msg)) return undefined;
  const owner = typeof image.owner === 'string' ? image.owner : undefined;
  if (owner !== undefined && owner === msg.principal?.name) return undefined;
  return reject(
    'PERMISSION_DENIED',
    `principal ${shown(msg.principal?.name ?? '')} may not ${what}: it belongs to ${owner === undefined ? 'no principal (made before signatures were required)' : `principal ${shown(owner)}`}; only its owner or an admin may`,
  );
};

/**
 * `h`, refused to anyone but the owner of the `entity` image that `keyOf` names (or an admin).
 * What is not there is left to `h` to answer (NOT_FOUND, or nothing for an event).
 */
export const ownerOnly = <V>(h: Handler<V>, entity: Entity, keyOf: (v: V) => string, what: (key: string) => string): Handler<V> => ({
  ...h,
  decide: (msg, state, ctx) => {
    const key = keyOf(msg.value);
    return notOwner(msg, state.get(entity, key), what(key)) ?? h.decide(msg, state, ctx);
  },
});

/**
 * A worker's events, refused to anyone but the principal that registered the worker (or an
 * admin): one worker cannot speak for another. A worker registered unsigned has no owner: its
 * next registration records one, and until then signed reports are taken as they were.
 */
export const workerOnly = <V extends { readonly workerId: string }>(h: Handler<V>): Handler<V> => ({
  ...h,
  decide: (msg, state, ctx) => {
    const w = state.get(WORKER, msg.value.workerId);
    const denied = w?.owner === undefined ? undefined : notOwner(msg, w, `speak for worker ${shown(msg.value.workerId)}`);
    return denied ?? h.decide(msg, state, ctx);
  },
});
