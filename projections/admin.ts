/**
 * Who may ask for what an admin may do. The messaging layer puts the verified sender on the
 * message (`Message.principal`); a deployment without security has none, and then every sender
 * counts as an admin, as every sender can write every topic there anyway.
 */
import { shown } from './model';
import { reject, type Decision, type Message } from './types';

export const ADMIN_ROLE = 'admin';

export const isAdmin = (msg: Pick<Message<unknown>, 'principal'>): boolean => msg.principal === undefined || msg.principal.roles.includes(ADMIN_ROLE);

/** PERMISSION_DENIED for a sender that is not an admin, naming what it tried; undefined for an admin. */
export const adminOnly = (msg: Pick<Message<unknown>, 'principal'>, what: string): Decision | undefined =>
  isAdmin(msg) ? undefined : reject('PERMISSION_DENIED', `principal ${shown(msg.principal?.name ?? '')} may not ${what}: that needs the ${ADMIN_ROLE} role`);
