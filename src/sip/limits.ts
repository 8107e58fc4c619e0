/**
 * Limits the parser enforces against hostile input. Every limit is checked before the work it bounds.
 */
export interface ParseLimits {
  /** Largest message accepted, in bytes (start line, headers and body). */
  maxMessageSize: number;
  /** Most header fields (lines, after unfolding) in one message. */
  maxHeaderCount: number;
  /** Longest physical line, in bytes, without its line end. */
  maxLineLength: number;
  /** Most Via header fields in one message (each field may hold several values; those are checked when read). */
  maxViaCount: number;
}

/** The defaults: a UDP datagram's maximum size, and bounds far above anything legitimate traffic needs. */
export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxMessageSize: 65535,
  maxHeaderCount: 256,
  maxLineLength: 8192,
  maxViaCount: 64,
});
