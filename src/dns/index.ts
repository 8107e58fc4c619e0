/**
 * DNS for SIP: RFC 3263 server location with a TTL cache and a blacklist of failed destinations.
 *
 * @packageDocumentation
 */
export { DnsError, type DnsErrorCode } from './errors.js';
export {
  type DnsOptions,
  type DnsStats,
  type ResolutionStep,
  type ResolvedTarget,
  SipResolver,
} from './resolver.js';
export { orderSrv, type SrvOrderable } from './srv.js';
