/**
 * Topology hiding as a message filter of the pipeline (Kamailio's topoh model): every message sent to
 * the outside has its Via stack, Contact, Record-Route set and (with `inside` networks) Call-ID masked;
 * every message received that carries a mask is restored before anything else sees it, so the route
 * script, tm and the rest work on the real values.
 *
 * - Via (requests): the values below ours go into a parameter of our Via; a response brings it back and
 *   the stack is restored before the response is matched.
 * - Contact: each URI becomes a URI of this server holding the original (`sip:ip:port;line=sr-MASK`),
 *   so in-dialog requests of the far side come here and are sent on to the real contact.
 * - Record-Route: the values this side added (ours and those on this side of us) become one value of
 *   this server; a Route holding it is expanded into the original values (reversed for the caller's
 *   route set, which the caller built from a response).
 * - Call-ID: each side keeps the Call-ID it first saw; the side that did not originate the call sees a
 *   mask. Which side originated a call is written on the sender's Via as it arrives (`th-side`), where
 *   every response and forwarded request finds it; CANCEL and ACK that tm builds from an INVITE find it
 *   under the INVITE's branch.
 */
import { BlockList } from 'node:net';
import type { Logger } from '../../core/logger.js';
import type { Myself } from '../../core/myself.js';
import type { MessageFilter } from '../../core/pipeline.js';
import type { Stat } from '../../core/stats.js';
import { SipParseError } from '../../sip/errors.js';
import { formatVia, type Via } from '../../sip/headers/via.js';
import { splitList } from '../../sip/lexer.js';
import type { SipMessage, SipRequest, SipResponse } from '../../sip/message.js';
import { formatNameAddr, type NameAddr } from '../../sip/name-addr.js';
import { parseMessage } from '../../sip/parser.js';
import { formatUri, isSipUri, parseUri, type Uri } from '../../sip/uri.js';
import type { Destination, Listener, Source } from '../../transport/types.js';
import type { Masker } from './mask.js';

/** `i`nside or `o`utside. */
export type Side = 'i' | 'o';

/** A network given in `inside`. */
export interface Network {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Settings of a {@link TopologyHider}. */
export interface HiderSettings {
  /** Host written in masked URIs; the sending listener's advertised host when undefined. */
  readonly maskIp: string | undefined;
  readonly maskCallId: boolean;
  readonly inside: readonly Network[];
  readonly uriParam: string;
  readonly uriPrefix: string;
  readonly viaParam: string;
  readonly callIdPrefix: string;
}

/** What the hider counts. */
export interface HiderCounters {
  readonly masked: Stat;
  readonly unmasked: Stat;
  readonly badMasks: Stat;
}

/** How long the Call-ID side of a sent INVITE is kept for the CANCEL or ACK tm may build from it. */
const INVITE_MEMORY_MS = 300_000;
const INVITE_MEMORY_MAX = 100_000;

export class TopologyHider implements MessageFilter {
  private readonly insideList = new BlockList();
  /** Call-IDs are masked: there are two sides. */
  private readonly callIdSides: boolean;
  private readonly sideParam: string;
  private readonly uriMarker: string;
  private readonly viaMarker: string;
  private readonly maskHost: string | undefined;
  /** Branch of each INVITE sent with a masked Call-ID -> the side that originated the call. */
  private readonly inviteOrigins = new Map<string, { origin: Side; at: number }>();

  constructor(
    private readonly settings: HiderSettings,
    private readonly masker: Masker,
    private readonly myself: Myself,
    private readonly listeners: () => readonly Listener[],
    private readonly counters: HiderCounters,
    private readonly log: Logger,
  ) {
    for (const n of settings.inside)
      this.insideList.addSubnet(n.address, n.prefix, n.family === 6 ? 'ipv6' : 'ipv4');
    this.callIdSides = settings.maskCallId && settings.inside.length > 0;
    this.sideParam = `${settings.viaParam}-side`;
    this.uriMarker = `${settings.uriParam}=${settings.uriPrefix}`;
    this.viaMarker = `;${settings.viaParam}=`;
    const ip = settings.maskIp;
    this.maskHost = ip === undefined ? undefined : ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip;
  }

  /** Whether an address is on the inside (with no `inside` networks, every address is outside). */
  sideOf(address: string): Side {
    const a = address.startsWith('[') ? address.slice(1, -1) : address;
    return this.insideList.check(a, a.includes(':') ? 'ipv6' : 'ipv4') ? 'i' : 'o';
  }

  // ---------------------------------------------------------------- receiving: restore

  received(msg: SipRequest | SipResponse, source: Source): boolean {
    try {
      return this.unmask(msg, source);
    } catch (e) {
      // a header that does not parse: the pipeline's own checks answer or drop the message
      if (e instanceof SipParseError) return true;
      throw e;
    }
  }

  private unmask(msg: SipRequest | SipResponse, source: Source): boolean {
    let unmasked = false;
    let callIdMasked = false;
    const callId = msg.callId;
    if (callId?.startsWith(this.settings.callIdPrefix)) {
      const m = this.masker.open(callId.slice(this.settings.callIdPrefix.length));
      if (m === undefined || m.kind !== 'c') return this.refuse('Call-ID', source);
      msg.setHeader('Call-ID', m.text);
      callIdMasked = true;
      unmasked = true;
    }
    if (msg.kind === 'request') {
      if (msg.requestUri.includes(this.uriMarker)) {
        const token = this.uriToken(msg.uri);
        if (token !== undefined) {
          const m = this.masker.open(token);
          if (m === undefined || m.kind !== 'u') return this.refuse('Request-URI', source);
          msg.setUri(m.text);
          unmasked = true;
        }
      }
      const r = this.unmaskAddresses(msg, 'route');
      if (r === false) return this.refuse('Route', source);
      unmasked ||= r === 'changed';
    } else {
      const v = this.restoreVias(msg);
      if (v === false) return this.refuse('Via', source);
      unmasked ||= v === 'changed';
    }
    const rr = this.unmaskAddresses(msg, 'record-route');
    if (rr === false) return this.refuse('Record-Route', source);
    const c = this.unmaskAddresses(msg, 'contact');
    if (c === false) return this.refuse('Contact', source);
    if (unmasked || rr === 'changed' || c === 'changed') this.counters.unmasked.value++;
    if (this.callIdSides && msg.kind === 'request') {
      // the side that originated the call: the sender's, unless the sender had a masked Call-ID
      const from = this.sideOf(source.address);
      const origin: Side = callIdMasked ? (from === 'i' ? 'o' : 'i') : from;
      this.rewriteTopVia(msg, (via) => {
        const params = new Map(via.params);
        params.set(this.sideParam, origin);
        return { ...via, params };
      });
    }
    return true;
  }

  private refuse(what: string, source: Source): false {
    this.counters.badMasks.value++;
    // debug: forged masks from scanners must not flood the log (counted in topoh.bad_masks)
    if (this.log.enabled('debug'))
      this.log.debug('topoh: invalid mask, message dropped', {
        header: what,
        src: `${source.protocol}:${source.address}:${source.port}`,
      });
    return false;
  }

  /** The mask in a URI of ours (`;line=sr-MASK`), or undefined. */
  private uriToken(uri: Uri): string | undefined {
    if (!isSipUri(uri)) return undefined;
    const v = uri.params.get(this.settings.uriParam);
    if (typeof v !== 'string' || !v.startsWith(this.settings.uriPrefix)) return undefined;
    return v.slice(this.settings.uriPrefix.length);
  }

  /** Expands masked Route/Record-Route values and restores masked Contacts; false on a bad mask. */
  private unmaskAddresses(msg: SipMessage, key: 'route' | 'record-route' | 'contact'): boolean | 'changed' {
    let marked = false;
    for (const f of msg.fields(key)) {
      if (f.value.includes(this.uriMarker)) {
        marked = true;
        break;
      }
    }
    if (!marked) return true;
    const list: NameAddr[] =
      key === 'route' ? msg.route : key === 'record-route' ? msg.recordRoute : (msg.contact?.list ?? []);
    const out: string[] = [];
    let changed = false;
    for (const na of list) {
      const token = this.uriToken(na.uri);
      if (token === undefined) {
        out.push(formatNameAddr(na));
        continue;
      }
      const m = this.masker.open(token);
      if (m === undefined) return false;
      changed = true;
      if (key === 'contact') {
        if (m.kind !== 'u') return false;
        out.push(formatNameAddr({ ...na, uri: parseUri(m.text) }));
        continue;
      }
      if (m.kind !== 'r' && m.kind !== 'R') return false;
      const values = m.text.split('\n');
      // RFC 3261 §12.1.2: the caller's route set is the response's Record-Route reversed
      if (key === 'route' && m.kind === 'R') values.reverse();
      for (const v of values) out.push(v);
    }
    if (!changed) return true;
    msg.setHeader(
      key === 'route' ? 'Route' : key === 'record-route' ? 'Record-Route' : 'Contact',
      out.join(', '),
    );
    return 'changed';
  }

  /** A response to a request we masked: puts the Via values back under ours. */
  private restoreVias(msg: SipResponse): boolean | 'changed' {
    const f = msg.field('via');
    if (f === undefined || !f.value.includes(this.viaMarker)) return true;
    const top = msg.topVia;
    const token = top?.params.get(this.settings.viaParam);
    if (top === undefined || token === undefined) return true;
    if (token === null) return false;
    const m = this.masker.open(token);
    if (m === undefined || m.kind !== 'v') return false;
    const params = new Map(top.params);
    params.delete(this.settings.viaParam);
    const elements = splitList(f.value);
    const rest = elements.length > 1 ? `, ${f.value.slice(elements[1]!.offset)}` : '';
    msg.replaceField(f, `${formatVia({ ...top, params })}, ${m.text}${rest}`);
    return 'changed';
  }

  // ---------------------------------------------------------------- sending: mask

  sending(data: Buffer, destination: Destination): Buffer | undefined {
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(data);
    } catch {
      // only the 400 for an unparsable request is sent unparsable: it holds the sender's own lines
      return data;
    }
    const side = this.sideOf(destination.address);
    try {
      const listener = destination.listener ?? this.listenerFor(destination);
      if (msg.kind === 'request') {
        if (this.callIdSides) this.callIdOfRequest(msg, side);
        if (side === 'o') {
          this.maskVias(msg);
          this.maskContacts(msg, listener);
          this.maskRecordRoute(msg, listener, 'r');
        }
      } else {
        if (this.callIdSides) this.callIdOfResponse(msg, side);
        if (side === 'o') {
          // a REGISTER response lists the registering UA's own bindings: it must recognise them (RFC 3261 §10.2.4)
          if (msg.cseq?.method !== 'REGISTER') this.maskContacts(msg, listener);
          this.maskRecordRoute(msg, listener, 'R');
        }
      }
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      if (side === 'i') return data;
      // what cannot be masked does not go out
      this.counters.badMasks.value++;
      this.log.info('topoh: cannot mask a message, not sent', { reason: e.reason, header: e.header });
      return undefined;
    }
    if (!msg.isEdited) return data;
    if (side === 'o') this.counters.masked.value++;
    return msg.toBuffer();
  }

  private listenerFor(dest: Destination): Listener {
    const all = this.listeners();
    const family = dest.address.includes(':') ? 6 : 4;
    return all.find((l) => l.protocol === dest.protocol && l.family === family) ?? all[0]!;
  }

  /** A URI of this server holding a mask. */
  private maskedUri(listener: Listener, token: string, lr: boolean): string {
    const host = this.maskHost ?? listener.advertisedHost;
    const transport = listener.protocol === 'udp' ? '' : `;transport=${listener.protocol}`;
    return `sip:${host}:${listener.advertisedPort}${transport}${lr ? ';lr' : ''};${this.uriMarker}${token}`;
  }

  /** Replaces the Vias below ours with a mask on ours. */
  private maskVias(msg: SipRequest): void {
    const vias = msg.via;
    if (vias.length < 2) return;
    const ours = vias[0]!;
    const below = vias.slice(1).map(formatVia).join(', ');
    const params = new Map(ours.params);
    params.set(this.settings.viaParam, this.masker.seal('v', below));
    msg.removeHeader('via');
    msg.prependVia(formatVia({ ...ours, params }));
  }

  private maskContacts(msg: SipMessage, listener: Listener): void {
    if (!msg.hasHeader('contact')) return;
    const contacts = msg.contact;
    if (contacts === undefined || contacts.wildcard) return;
    const out = contacts.list.map((na) => {
      if (this.uriToken(na.uri) !== undefined) return formatNameAddr(na);
      const token = this.masker.seal('u', formatUri(na.uri));
      return formatNameAddr({ ...na, uri: parseUri(this.maskedUri(listener, token, false)) });
    });
    msg.setHeader('Contact', out.join(', '));
  }

  /**
   * One value of ours for the Record-Route values of this side: in a request, all of them (ours on top,
   * then those added before us); in a response, those down to our last one (added after us).
   */
  private maskRecordRoute(msg: SipMessage, listener: Listener, kind: 'r' | 'R'): void {
    if (!msg.hasHeader('record-route')) return;
    const rr = msg.recordRoute;
    let end = rr.length;
    if (kind === 'R') {
      for (let i = rr.length - 1; i >= 0; i--) {
        const uri = rr[i]!.uri;
        if (isSipUri(uri) && this.myself.matchesUri(uri)) {
          end = i + 1;
          break;
        }
      }
    }
    const hidden = rr.slice(0, end);
    if (hidden.length === 1 && this.uriToken(hidden[0]!.uri) !== undefined) return;
    const token = this.masker.seal(kind, hidden.map(formatNameAddr).join('\n'));
    const values = [`<${this.maskedUri(listener, token, true)}>`];
    for (let i = end; i < rr.length; i++) values.push(formatNameAddr(rr[i]!));
    msg.setHeader('Record-Route', values.join(', '));
  }

  /** The side that originated a call, as written on a Via when its request arrived. */
  private originOf(via: Via | undefined): Side | undefined {
    const v = via?.params.get(this.sideParam);
    return v === 'i' || v === 'o' ? v : undefined;
  }

  /** Each side keeps the Call-ID it first saw: masked toward the side that did not originate the call. */
  private callIdOfRequest(msg: SipRequest, side: Side): void {
    const vias = msg.via;
    const method = msg.method;
    let origin = vias.length > 1 ? this.originOf(vias[1]) : undefined;
    const branch = vias[0]?.branch;
    if (origin === undefined && vias.length === 1 && branch !== undefined) {
      // a CANCEL or a non-2xx ACK that tm built from an INVITE: the INVITE's decision
      if (method === 'CANCEL' || method === 'ACK') origin = this.inviteOrigins.get(branch)?.origin;
    }
    // no origin: a request this server originated (tm.newRequest), its Call-ID is its own
    if (origin === undefined || origin === side) return;
    if (method === 'INVITE' && branch !== undefined) this.rememberInvite(branch, origin);
    this.maskCallId(msg);
  }

  private callIdOfResponse(msg: SipResponse, side: Side): void {
    const origin = this.originOf(msg.topVia);
    if (origin === undefined) return;
    // the flag is ours: the recipient gets its Via back as it sent it
    this.rewriteTopVia(msg, (via) => {
      const params = new Map(via.params);
      params.delete(this.sideParam);
      return { ...via, params };
    });
    if (origin !== side) this.maskCallId(msg);
  }

  private maskCallId(msg: SipMessage): void {
    const callId = msg.callId;
    if (callId === undefined || callId.startsWith(this.settings.callIdPrefix)) return;
    msg.setHeader('Call-ID', this.settings.callIdPrefix + this.masker.seal('c', callId));
  }

  private rememberInvite(branch: string, origin: Side): void {
    const now = Date.now();
    const memory = this.inviteOrigins;
    for (const [key, entry] of memory) {
      if (now - entry.at < INVITE_MEMORY_MS && memory.size < INVITE_MEMORY_MAX) break;
      memory.delete(key);
    }
    memory.delete(branch);
    memory.set(branch, { origin, at: now });
  }

  /** Rewrites the topmost Via value; the other values of its field keep their bytes. */
  private rewriteTopVia(msg: SipMessage, update: (via: Via) => Via): void {
    const f = msg.field('via');
    const top = msg.topVia;
    if (f === undefined || top === undefined) return;
    const elements = splitList(f.value);
    const rest = elements.length > 1 ? `, ${f.value.slice(elements[1]!.offset)}` : '';
    msg.replaceField(f, formatVia(update(top)) + rest);
  }
}
