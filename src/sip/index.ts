/**
 * olelo's SIP message core, usable on its own: `import { parseMessage } from 'olelo/sip'`.
 *
 * Parse a datagram or framed stream message with {@link parseMessage}, read typed header views
 * (`msg.via`, `msg.from`, `msg.cseq`, ...), edit (`msg.prependVia(...)`, `msg.setHeader(...)`,
 * `req.setUri(...)`, `msg.setBody(...)`) and write it back with {@link serializeMessage}: every header
 * line that was not edited is copied byte for byte.
 *
 * @packageDocumentation
 */
export {
  createRequest,
  createResponse,
  createResponseBytes,
  generateBranch,
  generateCallId,
  generateTag,
  type HeaderList,
  REASON_PHRASES,
  type RequestOptions,
  type ResponseOptions,
  randomToken,
  reasonPhrase,
  serializeMessage,
} from './build.js';
export { SipParseError } from './errors.js';
export { canonicalHeaderName, compactHeaderName, headerKey } from './header-names.js';
export * from './headers/index.js';
export { formatHostPort, type HostKind, type HostPort, isIPv4, isIPv6 } from './host.js';
export { formatParams, latin1ToText, type Params, quote, textToLatin1, unquote } from './lexer.js';
export { DEFAULT_LIMITS, type ParseLimits } from './limits.js';
export { HeaderField, SipMessage, type SipMessageAny, SipRequest, SipResponse } from './message.js';
export * from './name-addr.js';
export { type ParseOptions, parseMessage } from './parser.js';
export * from './uri.js';
