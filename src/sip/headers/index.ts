/**
 * Typed parsers and formatters for SIP header values. Each parser takes one header VALUE (a `latin1` string,
 * unfolded and trimmed) and throws only {@link SipParseError}, with an offset within that value.
 */
export type {
  AuthParams,
  AuthRole,
  DigestChallenge,
  DigestChallengeInit,
  DigestCredentials,
  DigestCredentialsInit,
} from './auth.js';
export {
  digestChallenge,
  digestCredentials,
  formatAuth,
  formatDigestChallenge,
  formatDigestCredentials,
  isDigest,
  parseAuth,
} from './auth.js';
export type { MediaType } from './content-type.js';
export { formatContentType, parseContentType } from './content-type.js';
export type { CSeq } from './cseq.js';
export { formatCSeq, parseCSeq } from './cseq.js';
export { formatDate, parseDate } from './date.js';
export type { EventHeader, SubscriptionState } from './event.js';
export { formatEvent, formatSubscriptionState, parseEvent, parseSubscriptionState } from './event.js';
export {
  parseCallId,
  parseContentLength,
  parseExpires,
  parseMaxForwards,
  parseMinExpires,
} from './numeric.js';
export type { Reason } from './reason.js';
export { formatReason, formatReasons, parseReason } from './reason.js';
export type { RetryAfter } from './retry-after.js';
export { formatRetryAfter, parseRetryAfter } from './retry-after.js';
export { formatTokenList, parseTokenList } from './token-list.js';
export type { Via } from './via.js';
export { formatVia, formatVias, parseVia } from './via.js';
