/**
 * Strings kept long after their message is gone (transaction keys for 32 s, bindings for hours, a call
 * table) must not pin what they were cut from: V8 keeps a substring of 13 chars or more as a view into
 * its parent — for a header value, the whole header section of the message — and a concatenation as a
 * tree of its parts.
 */

/** V8 copies substrings shorter than this; longer ones may be views into their parent. */
const SHORT_STRING = 13;

/** Bytes of the scratch buffer copies go through; longer strings take a buffer of their own. */
const SCRATCH_SIZE = 4096;
const scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

/** A flat copy of `s` that references nothing else (for a value cut out of a message and stored). */
export function ownString(s: string): string {
  if (s.length < SHORT_STRING) return s;
  // olelo's header text is latin1 (one char per byte); anything wider takes the UTF-8 round trip
  let copy: string;
  if (s.length <= SCRATCH_SIZE) {
    const n = scratch.write(s, 0, 'latin1');
    copy = scratch.toString('latin1', 0, n);
  } else {
    copy = Buffer.from(s, 'latin1').toString('latin1');
  }
  return copy === s ? copy : Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * `key`, a string just built by concatenation (of parts that may be slices of a message), flattened in
 * place so that it keeps none of its parts: cheaper than {@link ownString} for a fresh key (one copy).
 */
export function flattened(key: string): string {
  key.charCodeAt(0); // reading a concatenated string flattens it, and its parts are let go
  return key;
}
