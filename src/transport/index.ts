/**
 * olelo's transport layer (RFC 3261 §18): UDP, TCP, TLS, WebSocket (RFC 7118) listeners, the connection
 * table with RFC 5923 reuse, stream framing with RFC 5626 keepalives, and the sending rules.
 *
 * @packageDocumentation
 */
export { hostPort } from './connection.js';
export {
  type FramerSink,
  type FramingErrorReason,
  type FramingLimits,
  readContentLength,
  StreamFramer,
} from './framing.js';
export { TransportLayer } from './transport-layer.js';
export {
  type CloseReason,
  type ConnectionInfo,
  type Destination,
  type Listener,
  type ListenerOptions,
  PROTOCOLS,
  type Protocol,
  type ProtocolCounters,
  type SendFailureHandler,
  type Source,
  type TlsOptions,
  TransportError,
  type TransportErrorCode,
  type TransportEvent,
  type TransportLimits,
  type TransportOptions,
  type TransportStats,
} from './types.js';
