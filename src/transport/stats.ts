/**
 * The transport's counters: one mutable object with a fixed shape, incremented in place on hot paths and
 * copied on demand.
 */
import type { ProtocolCounters, TransportStats } from './types.js';

function perProtocol(): ProtocolCounters {
  return { udp: 0, tcp: 0, tls: 0, ws: 0, wss: 0 };
}

/** A zeroed counter set. */
export function createStats(): TransportStats {
  return {
    received: perProtocol(),
    sent: perProtocol(),
    sendFailures: perProtocol(),
    receivedBytes: perProtocol(),
    sentBytes: perProtocol(),
    framingErrors: {
      garbage: 0,
      'header-too-large': 0,
      'message-too-large': 0,
      'missing-content-length': 0,
      'bad-content-length': 0,
    },
    datagramsDropped: { oversize: 0, garbage: 0 },
    keepalives: { pingsReceived: 0, pongsSent: 0, udpKeepalives: 0 },
    connections: { current: perProtocol(), total: perProtocol(), refused: perProtocol() },
    closed: {
      peer: 0,
      local: 0,
      stopped: 0,
      idle: 0,
      slowloris: 0,
      garbage: 0,
      framing: 0,
      limit: 0,
      error: 0,
      'connect-failed': 0,
      'connect-timeout': 0,
    },
    writeQueueDrops: 0,
    handlerErrors: 0,
    tlsHandshakeFailures: 0,
  };
}

/** A deep copy, safe to hand out. */
export function copyStats(s: TransportStats): TransportStats {
  return {
    received: { ...s.received },
    sent: { ...s.sent },
    sendFailures: { ...s.sendFailures },
    receivedBytes: { ...s.receivedBytes },
    sentBytes: { ...s.sentBytes },
    framingErrors: { ...s.framingErrors },
    datagramsDropped: { ...s.datagramsDropped },
    keepalives: { ...s.keepalives },
    connections: {
      current: { ...s.connections.current },
      total: { ...s.connections.total },
      refused: { ...s.connections.refused },
    },
    closed: { ...s.closed },
    writeQueueDrops: s.writeQueueDrops,
    handlerErrors: s.handlerErrors,
    tlsHandshakeFailures: s.tlsHandshakeFailures,
  };
}
