/**
 * A real authoritative DNS server on loopback (npm `dns2`) serving a small test zone, counting the
 * queries it receives.
 */
import { createServer, Packet, type Resource } from 'dns2';

/** Record type numbers (RFC 1035, RFC 3596, RFC 2782, RFC 3403). */
export const TYPE = { A: 1, AAAA: 28, SRV: 33, NAPTR: 35 } as const;

export type ZoneRecord =
  | { type: 'A' | 'AAAA'; address: string; ttl?: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number }
  | {
      type: 'NAPTR';
      order: number;
      preference: number;
      flags: string;
      service: string;
      regexp?: string;
      replacement: string;
      ttl?: number;
    };

/** Owner name → records. A name absent from the zone is NXDOMAIN; present without the type, NODATA. */
export type Zone = Record<string, ZoneRecord[]>;

export interface ZoneServerOptions {
  /** `'TYPE name'` (e.g. `'A slow.test'`) or `'* name'`: queries never answered. */
  unanswered?: string[];
  /** Names answered SERVFAIL. */
  servfail?: string[];
}

// RFC 2782: the SRV target must not be compressed. dns2 compresses it, which newer c-ares (Node 24)
// rejects as EBADRESP; write the target as plain labels instead.
(Packet.Resource as unknown as Record<string, { encode: unknown }>).SRV!.encode = (
  record: { priority: number; weight: number; port: number; target: string },
  writer: { write(value: number, bits: number): void },
) => {
  writer.write(record.priority, 16);
  writer.write(record.weight, 16);
  writer.write(record.port, 16);
  for (const label of record.target.split('.')) {
    if (label === '') continue;
    writer.write(label.length, 8);
    for (let i = 0; i < label.length; i++) writer.write(label.charCodeAt(i), 8);
  }
  writer.write(0, 8);
};

/** NAPTR RDATA (RFC 3403 §4.1): dns2 has no NAPTR encoder, so the test writes the wire form. */
function naptrData(r: Extract<ZoneRecord, { type: 'NAPTR' }>): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt16BE(r.order, 0);
  head.writeUInt16BE(r.preference, 2);
  parts.push(head);
  for (const text of [r.flags, r.service, r.regexp ?? '']) {
    parts.push(Buffer.from([text.length]), Buffer.from(text, 'latin1'));
  }
  for (const label of r.replacement.split('.')) {
    if (label !== '') parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** A DNS server for a {@link Zone}, on 127.0.0.1 at an OS-chosen port. */
export class ZoneServer {
  readonly #zone: Map<string, ZoneRecord[]>;
  readonly #unanswered: Set<string>;
  readonly #servfail: Set<string>;
  readonly #server = createServer({ udp: { type: 'udp4' }, handle: (req, send) => this.#handle(req, send) });
  /** Every query received, as `'TYPE name'`. */
  readonly log: string[] = [];
  port = 0;

  constructor(zone: Zone, options: ZoneServerOptions = {}) {
    this.#zone = new Map(Object.entries(zone));
    this.#unanswered = new Set(options.unanswered);
    this.#servfail = new Set(options.servfail);
  }

  async start(): Promise<void> {
    const addresses = await this.#server.listen({ udp: { port: 0, address: '127.0.0.1' } });
    this.port = addresses.udp!.port;
  }

  async stop(): Promise<void> {
    await this.#server.close();
  }

  /** The `servers` option pointing at this server. */
  get servers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Queries received for `'TYPE name'`. */
  count(query: string): number {
    let n = 0;
    for (const q of this.log) if (q === query) n++;
    return n;
  }

  resetLog(): void {
    this.log.length = 0;
  }

  #handle(request: Packet, send: (response: Packet) => Promise<Buffer>): void {
    const question = request.questions[0];
    if (question === undefined) return;
    const name = question.name.toLowerCase();
    const typeName = Object.entries(TYPE).find(([, v]) => v === question.type)?.[0] ?? String(question.type);
    this.log.push(`${typeName} ${name}`);
    if (this.#unanswered.has(`${typeName} ${name}`) || this.#unanswered.has(`* ${name}`)) return;
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    const records = this.#zone.get(name);
    if (this.#servfail.has(name)) {
      response.header.rcode = 2; // SERVFAIL
    } else if (records === undefined) {
      response.header.rcode = 3; // NXDOMAIN
    } else {
      for (const r of records) {
        if (TYPE[r.type] !== question.type) continue;
        const base = { name: question.name, type: TYPE[r.type], class: Packet.CLASS.IN, ttl: r.ttl ?? 60 };
        if (r.type === 'NAPTR') {
          response.answers.push({ ...base, data: naptrData(r) as unknown as string } as Resource);
        } else if (r.type === 'SRV') {
          response.answers.push({
            ...base,
            priority: r.priority,
            weight: r.weight,
            port: r.port,
            target: r.target,
          } as Resource);
        } else {
          response.answers.push({ ...base, address: r.address } as Resource);
        }
      }
    }
    send(response).catch(() => {});
  }
}
