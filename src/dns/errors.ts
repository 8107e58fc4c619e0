/**
 * Errors of the DNS layer.
 */

/**
 * Why a SIP URI could not be resolved to any target.
 *
 * - `NOT_FOUND`: every lookup answered NXDOMAIN or no data.
 * - `TIMEOUT`, `SERVFAIL`, `REFUSED`, `ERROR`: nothing was found and at least one lookup failed this way
 *   (the first such failure is reported); the name may exist.
 * - `OVERLOADED`: too many queries were in flight; lookups failed fast.
 * - `CANCELLED`: the resolver was closed while a query was in flight.
 * - `NO_TRANSPORT`: the URI asks for a transport that cannot be used (`transport=sctp`, `sips` with
 *   `transport=udp`).
 */
export type DnsErrorCode =
  | 'NOT_FOUND'
  | 'TIMEOUT'
  | 'SERVFAIL'
  | 'REFUSED'
  | 'ERROR'
  | 'OVERLOADED'
  | 'CANCELLED'
  | 'NO_TRANSPORT';

/** A SIP URI resolved to no target (RFC 3263 §4). `host` is the name (or maddr) that was looked up. */
export class DnsError extends Error {
  override readonly name = 'DnsError';
  readonly code: DnsErrorCode;
  /** The host (or maddr) of the URI being resolved. */
  readonly host: string;

  constructor(code: DnsErrorCode, host: string, message?: string) {
    super(message ?? `cannot resolve ${host}: ${code}`);
    this.code = code;
    this.host = host;
  }
}
