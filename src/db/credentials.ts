/**
 * The digest hashes Kamailio's `subscriber` table stores next to (or instead of) the password.
 */
import { createHash } from 'node:crypto';

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** `ha1` = MD5(username:realm:password) (RFC 2617 §3.2.2.2, A1 with algorithm MD5). */
export function computeHa1(username: string, realm: string, password: string): string {
  return md5(`${username}:${realm}:${password}`);
}

/** `ha1b` = MD5(username@domain:realm:password): the A1 of clients that send `username="user@domain"`. */
export function computeHa1b(username: string, domain: string, realm: string, password: string): string {
  return md5(`${username}@${domain}:${realm}:${password}`);
}

/** Both hashes of an account, with its domain as realm (what olelo challenges with). */
export function subscriberHashes(
  username: string,
  domain: string,
  password: string,
): { ha1: string; ha1b: string } {
  return {
    ha1: computeHa1(username, domain, password),
    ha1b: computeHa1b(username, domain, domain, password),
  };
}
