/**
 * The receive pipeline's counters by kind, under Kamailio's names so tools reading its statistics read
 * olelo's: requests by method and replies by class (`core` group), stateless replies by class and code
 * (`sl` group). Counting costs one switch on a value the parser already produced; nothing is looked up
 * by name and nothing is allocated.
 */
import type { Stat, StatsRegistry } from './stats.js';

/** Methods counted on their own (`core.rcv_requests_<method>`); others count as `unsupported_methods`. */
export const COUNTED_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'REGISTER',
  'OPTIONS',
  'MESSAGE',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'REFER',
  'INFO',
  'PRACK',
  'UPDATE',
] as const;

/** Stateless reply codes with a counter of their own (`sl.<code>_replies`), as Kamailio's sl module. */
export const SL_CODES = [200, 202, 300, 301, 302, 400, 401, 403, 404, 407, 408, 483, 500] as const;

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

/** `core.rcv_requests_<method>`, `core.unsupported_methods`, `core.rcv_replies_<N>xx` and Kamailio's few codes. */
export class ReceivedCounters {
  private readonly invite: Stat;
  private readonly ack: Stat;
  private readonly bye: Stat;
  private readonly cancel: Stat;
  private readonly register: Stat;
  private readonly options: Stat;
  private readonly message: Stat;
  private readonly subscribe: Stat;
  private readonly notify: Stat;
  private readonly publish: Stat;
  private readonly refer: Stat;
  private readonly info: Stat;
  private readonly prack: Stat;
  private readonly update: Stat;
  private readonly other: Stat;
  /** Replies by class at index 1..6 (index 0 is a placeholder, never counted). */
  private readonly classes: Stat[];
  private readonly r18x: Stat;
  private readonly r401: Stat;
  private readonly r404: Stat;
  private readonly r407: Stat;
  private readonly r480: Stat;
  private readonly r486: Stat;

  constructor(stats: StatsRegistry) {
    const method = (m: (typeof COUNTED_METHODS)[number]) =>
      stats.counter('core', `rcv_requests_${m.toLowerCase()}`, `${m} requests received`, {
        metric: {
          family: 'core_rcv_requests_by_method',
          labels: { method: m },
          help: 'requests received, by method (other: unsupported_methods)',
        },
      });
    this.invite = method('INVITE');
    this.ack = method('ACK');
    this.bye = method('BYE');
    this.cancel = method('CANCEL');
    this.register = method('REGISTER');
    this.options = method('OPTIONS');
    this.message = method('MESSAGE');
    this.subscribe = method('SUBSCRIBE');
    this.notify = method('NOTIFY');
    this.publish = method('PUBLISH');
    this.refer = method('REFER');
    this.info = method('INFO');
    this.prack = method('PRACK');
    this.update = method('UPDATE');
    this.other = stats.counter('core', 'unsupported_methods', 'requests of other methods received', {
      metric: {
        family: 'core_rcv_requests_by_method',
        labels: { method: 'other' },
        help: 'requests received, by method (other: unsupported_methods)',
      },
    });
    const classHelp = 'replies received, by class';
    const cls = (c: string) =>
      stats.counter('core', `rcv_replies_${c}`, `${c} replies received`, {
        metric: { family: 'core_rcv_replies_by_class', labels: { class: c }, help: classHelp },
      });
    const classes = CLASSES.map(cls);
    this.classes = [classes[0]!, ...classes];
    const codeHelp = 'replies received with some codes (Kamailio’s rcv_replies_18x, _401, ...)';
    const code = (c: string) =>
      stats.counter('core', `rcv_replies_${c}`, `${c} replies received`, {
        metric: { family: 'core_rcv_replies_by_code', labels: { code: c }, help: codeHelp },
      });
    this.r18x = code('18x');
    this.r401 = code('401');
    this.r404 = code('404');
    this.r407 = code('407');
    this.r480 = code('480');
    this.r486 = code('486');
  }

  /** Counts a received request by its (parsed, case-sensitive: RFC 3261 §7.1) method. */
  request(method: string): void {
    switch (method) {
      case 'INVITE':
        this.invite.value++;
        return;
      case 'ACK':
        this.ack.value++;
        return;
      case 'BYE':
        this.bye.value++;
        return;
      case 'CANCEL':
        this.cancel.value++;
        return;
      case 'REGISTER':
        this.register.value++;
        return;
      case 'OPTIONS':
        this.options.value++;
        return;
      case 'MESSAGE':
        this.message.value++;
        return;
      case 'SUBSCRIBE':
        this.subscribe.value++;
        return;
      case 'NOTIFY':
        this.notify.value++;
        return;
      case 'PUBLISH':
        this.publish.value++;
        return;
      case 'REFER':
        this.refer.value++;
        return;
      case 'INFO':
        this.info.value++;
        return;
      case 'PRACK':
        this.prack.value++;
        return;
      case 'UPDATE':
        this.update.value++;
        return;
      default:
        this.other.value++;
    }
  }

  /** Counts a received reply by class, and the codes Kamailio counts on their own. */
  reply(status: number): void {
    const c = (status / 100) | 0;
    if (c >= 1 && c <= 6) this.classes[c]!.value++;
    if (c === 1) {
      if (status >= 180 && status < 190) this.r18x.value++;
    } else if (c === 4) {
      if (status === 401) this.r401.value++;
      else if (status === 404) this.r404.value++;
      else if (status === 407) this.r407.value++;
      else if (status === 480) this.r480.value++;
      else if (status === 486) this.r486.value++;
    }
  }
}

/**
 * Kamailio's `sl` group: stateless replies by class (`<N>xx_replies`: every reply of the class — in
 * Kamailio only those without a counter of their own) and by code (`200_replies`, ...), replies sent, error
 * replies to unparsable requests, failed sends, and ACKs for stateless replies absorbed.
 */
export class StatelessReplyCounters {
  private readonly classes: Stat[];
  private readonly codes = new Map<number, Stat>();
  private readonly outOfRange: Stat;
  readonly sent: Stat;
  readonly sentErrors: Stat;
  readonly failures: Stat;
  readonly receivedAcks: Stat;

  constructor(stats: StatsRegistry) {
    const classHelp = 'stateless replies sent, by class';
    this.classes = CLASSES.map((c) =>
      stats.counter('sl', `${c}_replies`, `${c} stateless replies sent`, {
        metric: { family: 'sl_replies_by_class', labels: { class: c }, help: classHelp },
      }),
    );
    this.outOfRange = stats.counter('sl', 'xxx_replies', 'stateless replies with a code outside 100-699', {
      metric: { family: 'sl_replies_by_class', labels: { class: 'xxx' }, help: classHelp },
    });
    const codeHelp = 'stateless replies sent with some codes (Kamailio’s 200_replies, 404_replies, ...)';
    for (const code of SL_CODES) {
      this.codes.set(
        code,
        stats.counter('sl', `${code}_replies`, `${code} stateless replies sent`, {
          metric: { family: 'sl_replies_by_code', labels: { code: String(code) }, help: codeHelp },
        }),
      );
    }
    this.sent = stats.counter('sl', 'sent_replies', 'stateless replies sent');
    this.sentErrors = stats.counter('sl', 'sent_err_replies', 'error replies to requests that did not parse');
    this.failures = stats.counter('sl', 'failures', 'stateless replies that could not be sent');
    this.receivedAcks = stats.counter('sl', 'received_ACKs', 'ACKs for stateless negative replies absorbed');
  }

  /** Counts one stateless reply handed to the transport. */
  reply(status: number): void {
    this.sent.value++;
    const c = (status / 100) | 0;
    if (c >= 1 && c <= 6) this.classes[c - 1]!.value++;
    else this.outOfRange.value++;
    // a small Map keyed by number: no string built
    const s = this.codes.get(status);
    if (s !== undefined) s.value++;
  }
}
