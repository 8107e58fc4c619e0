/**
 * Destination lists in Kamailio's `dispatcher.list` format: one destination per line,
 * `setid uri [flags [priority [attrs]]]`, `#` starts a comment; attrs are `name=value` pairs separated by
 * `;`. Also the rows of Kamailio's `dispatcher` table (id, setid, destination, flags, priority, attrs,
 * description), which carry the same fields.
 */
import { isSipUri, parseUri } from '../../sip/uri.js';

/** Kamailio's destination flags (the list's third column). */
export const DestinationFlag = {
  /** Out of service until a probe (or the control command) brings it back. */
  inactive: 1,
  /** Kamailio's "trying" state: still selected, counted towards inactive. Read as active here. */
  trying: 2,
  /** Administratively out of service: never selected, never probed. */
  disabled: 4,
  /** Probed with OPTIONS whatever the probing mode. */
  probing: 8,
} as const;

/** The attributes of a destination (the list's fifth column), with the names olelo reads typed. */
export interface DestinationAttributes {
  /** The attribute string as written. */
  readonly body: string;
  /** Every `name=value` pair, as written (names lower-cased). */
  readonly all: ReadonlyMap<string, string>;
  /** Unique id of the gateway (Kamailio's call-load key). */
  readonly duid?: string;
  /** Percent of calls (algorithm 9), 0-100. */
  readonly weight?: number;
  /** Relative weight among the active destinations (algorithm 11), 1-100. */
  readonly rweight?: number;
  /** Most active calls (algorithm 10); 0 = no limit. */
  readonly maxload?: number;
  /** Listener to send from, `proto:address:port`. */
  readonly socket?: string;
  /** From URI of this destination's probes. */
  readonly pingFrom?: string;
}

/** One destination as the list (or the table) declares it. */
export interface DestinationRecord {
  readonly setId: number;
  /** The SIP URI as written. */
  readonly uri: string;
  readonly flags: number;
  readonly priority: number;
  readonly attrs: DestinationAttributes;
  readonly description?: string;
  /** Where it was declared: `file:line` or `table row id`. */
  readonly origin: string;
}

/** A line of a list that cannot be read; `line` is 1-based. */
export class DispatcherListError extends Error {
  override readonly name = 'DispatcherListError';
  constructor(
    readonly source: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${source}:${line}: ${reason}`);
  }
}

const INTEGER = /^-?\d+$/;

function integer(text: string, what: string, fail: (reason: string) => never): number {
  if (!INTEGER.test(text)) fail(`${what} is not an integer: '${text}'`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) fail(`${what} is out of range: '${text}'`);
  return n;
}

function boundedAttr(
  value: string,
  name: string,
  min: number,
  max: number,
  fail: (reason: string) => never,
): number {
  const n = integer(value, `attribute ${name}`, fail);
  if (n < min || n > max) fail(`attribute ${name} must be ${min}-${max}: ${value}`);
  return n;
}

/** Reads an attribute string (`weight=50;duid=gw1;socket=udp:10.0.0.1:5060`). */
export function parseAttributes(body: string, fail: (reason: string) => never): DestinationAttributes {
  const all = new Map<string, string>();
  const attrs: {
    body: string;
    all: Map<string, string>;
    duid?: string;
    weight?: number;
    rweight?: number;
    maxload?: number;
    socket?: string;
    pingFrom?: string;
  } = { body, all };
  for (const part of body.split(';')) {
    const pair = part.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(`attribute is not name=value: '${pair}'`);
    const name = pair.slice(0, eq).trim().toLowerCase();
    const value = pair.slice(eq + 1).trim();
    all.set(name, value);
    switch (name) {
      case 'duid':
        attrs.duid = value;
        break;
      case 'weight':
        attrs.weight = boundedAttr(value, name, 0, 100, fail);
        break;
      case 'rweight':
        attrs.rweight = boundedAttr(value, name, 0, 100, fail);
        break;
      case 'maxload':
        attrs.maxload = boundedAttr(value, name, 0, 1_000_000_000, fail);
        break;
      case 'socket':
        if (!/^(udp|tcp|tls|ws|wss):.+:\d+$/i.test(value))
          fail(`attribute socket must be proto:address:port: '${value}'`);
        attrs.socket = value.toLowerCase();
        break;
      case 'ping_from': {
        const u = safeUri(value);
        if (u === undefined) fail(`attribute ping_from is not a SIP URI: '${value}'`);
        attrs.pingFrom = value;
        break;
      }
    }
  }
  return attrs;
}

function safeUri(text: string) {
  try {
    const u = parseUri(text);
    return isSipUri(u) ? u : undefined;
  } catch {
    return undefined;
  }
}

/** Checks one destination's fields; `fail` names where it came from. */
function record(
  fields: { setId: string; uri: string; flags?: string; priority?: string; attrs?: string },
  origin: string,
  fail: (reason: string) => never,
  description?: string,
): DestinationRecord {
  const setId = integer(fields.setId, 'set id', fail);
  if (setId < 0) fail(`set id must not be negative: ${setId}`);
  if (safeUri(fields.uri) === undefined) fail(`not a SIP URI: '${fields.uri}'`);
  const flags = fields.flags === undefined || fields.flags === '' ? 0 : integer(fields.flags, 'flags', fail);
  if (flags < 0 || flags > 0xffff) fail(`flags out of range: ${flags}`);
  const priority =
    fields.priority === undefined || fields.priority === '' ? 0 : integer(fields.priority, 'priority', fail);
  const attrs = parseAttributes(fields.attrs ?? '', fail);
  return {
    setId,
    uri: fields.uri,
    flags,
    priority,
    attrs,
    origin,
    ...(description === undefined || description === '' ? {} : { description }),
  };
}

/**
 * Parses a list in Kamailio's `dispatcher.list` format. Blank lines and `#` comments are skipped; a line
 * that cannot be read throws a {@link DispatcherListError} naming `source` and the line.
 */
export function parseDispatcherList(text: string, source = 'dispatcher.list'): DestinationRecord[] {
  const out: DestinationRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (reason: string): never => {
      throw new DispatcherListError(source, lineNo, reason);
    };
    let line = lines[i]!;
    const hash = line.indexOf('#');
    if (hash !== -1) line = line.slice(0, hash);
    line = line.trim();
    if (line === '') continue;
    // setid, URI, flags, priority: whitespace-separated; the attributes are the rest of the line
    const fields: string[] = [];
    let at = 0;
    while (fields.length < 4 && at < line.length) {
      while (at < line.length && (line[at] === ' ' || line[at] === '\t')) at++;
      let end = at;
      while (end < line.length && line[end] !== ' ' && line[end] !== '\t') end++;
      if (end > at) fields.push(line.slice(at, end));
      at = end;
    }
    const rest = line.slice(at).trim();
    if (fields.length < 2) fail('a destination needs a set id and a SIP URI');
    out.push(
      record(
        {
          setId: fields[0]!,
          uri: fields[1]!,
          ...(fields[2] === undefined ? {} : { flags: fields[2] }),
          ...(fields[3] === undefined ? {} : { priority: fields[3] }),
          attrs: rest,
        },
        `${source}:${lineNo}`,
        fail,
      ),
    );
  }
  return out;
}

/** A row of Kamailio's `dispatcher` table. */
export interface DispatcherRow {
  id?: number;
  setid: number;
  destination: string;
  flags?: number;
  priority?: number;
  attrs?: string;
  description?: string;
}

/** Reads rows of the `dispatcher` table; a bad row throws a {@link DispatcherListError} with its id as line. */
export function destinationsFromRows(
  rows: readonly DispatcherRow[],
  source = 'dispatcher',
): DestinationRecord[] {
  return rows.map((row, i) => {
    const line = row.id ?? i + 1;
    const fail = (reason: string): never => {
      throw new DispatcherListError(`${source} table row`, line, reason);
    };
    return record(
      {
        setId: String(row.setid),
        uri: row.destination,
        flags: String(row.flags ?? 0),
        priority: String(row.priority ?? 0),
        attrs: row.attrs ?? '',
      },
      `${source} id ${line}`,
      fail,
      row.description,
    );
  });
}
