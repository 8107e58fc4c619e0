/**
 * The one error type the SIP message core throws for bad input.
 *
 * `reason` is a short human-readable description of the defect (it is what a server puts in the
 * reason phrase of a `400`), `offset` is the byte offset in the message (or, for a header value parsed
 * on its own, in that value) where the defect was found.
 */
export class SipParseError extends Error {
  /** Short description of the defect, suitable for a 400 reason phrase. */
  readonly reason: string;
  /** Byte offset of the defect from the start of the parsed input. */
  readonly offset: number;
  /** Header name the defect was found in, when it was in a header. */
  readonly header: string | undefined;
  /** Status code a server should answer with (400 unless the defect calls for another, e.g. 505). */
  readonly status: number;

  constructor(reason: string, offset = 0, header?: string, status = 400) {
    super(header ? `${reason} (${header} header, offset ${offset})` : `${reason} (offset ${offset})`);
    this.name = 'SipParseError';
    this.reason = reason;
    this.offset = offset;
    this.header = header;
    this.status = status;
  }

  /** The same error moved by `delta` bytes and attributed to `header` (used when a header value was parsed alone). */
  rebase(delta: number, header?: string): SipParseError {
    return new SipParseError(this.reason, this.offset + delta, header ?? this.header, this.status);
  }
}
