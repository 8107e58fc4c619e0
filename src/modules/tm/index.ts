/**
 * tm: transactions and the stateful proxy (Kamailio's `tm`): relay with forking, stateful replies,
 * per-transaction reply/failure/branch routes, final-response timers, and requests originated by olelo.
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { viaTransport } from '../../core/next-hop.js';
import type { Pipeline } from '../../core/pipeline.js';
import { s } from '../../core/schema.js';
import { createRequest, generateBranch, type HeaderList, type RequestOptions } from '../../sip/build.js';
import type { SipResponse } from '../../sip/message.js';
import { parseMessage } from '../../sip/parser.js';
import { formatUri, isSipUri, parseUri } from '../../sip/uri.js';
import type { ClientTransaction } from '../../tm/client-transaction.js';
import type {
  BranchHandler,
  FailureHandler,
  ProxyTransaction,
  ReplyHandler,
} from '../../tm/proxy-transaction.js';
import { TransactionLayer } from '../../tm/transaction-layer.js';

/** Options of {@link TmApi.newRequest}. */
export interface NewRequestOptions extends Omit<RequestOptions, 'via'> {
  /** Where to send it (a SIP URI); by default the Request-URI. */
  nextHop?: string;
}

/** The `tm` script API. */
export interface TmApi {
  /**
   * Relays the request statefully (Kamailio's `t_relay`): to the appended branches, or to the
   * Request-URI (and `req.nextHop`). Sends 100 Trying for an INVITE. Resolves true when a branch was sent.
   */
  relay(req: RequestContext): Promise<boolean>;
  /** Replies statefully (Kamailio's `t_reply`): retransmitted over UDP and matched against the ACK. */
  reply(req: RequestContext, status: number, reason?: string, headers?: HeaderList): void;
  /** Adds a target for the next relay; different q-values fork serially, highest q first. */
  appendBranch(req: RequestContext, uri: string, q?: number, nextHop?: string): void;
  /** Arms a reply route for this transaction (every response of its branches). */
  onReply(req: RequestContext, handler: ReplyHandler): void;
  /** Arms a failure route: runs when every branch failed, before the best response goes upstream. */
  onFailure(req: RequestContext, handler: FailureHandler): void;
  /** Arms a branch route: runs per branch before it is sent. */
  onBranch(req: RequestContext, handler: BranchHandler): void;
  /** Sets this transaction's final-response timers (ms): non-INVITE / before a provisional, and INVITE after one. */
  setFrTimeout(req: RequestContext, frTimeout?: number, frInviteTimeout?: number): void;
  /** True when the caller canceled the transaction. */
  isCanceled(req: RequestContext): boolean;
  /** Originates a request (OPTIONS, BYE, NOTIFY...) and resolves with its final response (a local 408/503 on failure). */
  newRequest(options: NewRequestOptions): Promise<SipResponse>;
}

export const tmModule = defineModule({
  name: 'tm',
  doc: 'Transactions and the stateful proxy.',
  params: s.object({
    t1: s.duration({
      default: '500ms',
      runtime: true,
      doc: 'RFC 3261 T1: round-trip estimate; retransmissions start at T1.',
    }),
    t2: s.duration({ default: '4s', runtime: true, doc: 'RFC 3261 T2: longest retransmit interval.' }),
    t4: s.duration({
      default: '5s',
      runtime: true,
      doc: 'RFC 3261 T4: how long a message may stay in the network.',
    }),
    frTimer: s.duration({
      default: '30s',
      runtime: true,
      doc: 'Final-response timer for non-INVITE branches (and INVITE branches before a provisional).',
    }),
    frInvTimer: s.duration({
      default: '120s',
      runtime: true,
      doc: 'Final-response timer for INVITE branches after a provisional response.',
    }),
    wtTimer: s
      .duration({
        runtime: true,
        example: '5s',
        doc: "How long a finished transaction stays to absorb retransmissions (Timers J, L, M, D; Kamailio's wt_timer, 5 s there). Unset: 64×T1 as RFC 3261 and RFC 6026 say (32 s).",
      })
      .optional(),
  }),
  create(core, params) {
    const pipeline = core as Pipeline;
    const layer = new TransactionLayer({
      core: pipeline,
      send: (data, dest, onFailure) => pipeline.send(data, dest, onFailure),
      stats: core.stats,
      log: core.log,
      config: {
        t1: params.t1 as number,
        t2: params.t2 as number,
        t4: params.t4 as number,
        frTimeout: params.frTimer as number,
        frInviteTimeout: params.frInvTimer as number,
        wait: params.wtTimer as number | undefined,
      },
    });
    pipeline.hooks = layer;
    const tx = (req: RequestContext): ProxyTransaction => layer.proxyFor(req);
    const api: TmApi = {
      relay: (req) => tx(req).relay(),
      reply: (req, status, reason, headers) => tx(req).reply(status, reason, headers),
      appendBranch: (req, uri, q, nextHop) => tx(req).appendBranch(uri, q, nextHop),
      onReply: (req, handler) => {
        tx(req).onReply = handler;
      },
      onFailure: (req, handler) => {
        tx(req).onFailure = handler;
      },
      onBranch: (req, handler) => {
        tx(req).onBranch = handler;
      },
      setFrTimeout: (req, fr, frInv) => {
        const t = tx(req);
        if (fr !== undefined) t.frTimeout = fr;
        if (frInv !== undefined) t.frInviteTimeout = frInv;
      },
      isCanceled: (req) => (req.transaction as ProxyTransaction | undefined)?.canceled === true,
      newRequest: (options) => originate(pipeline, layer, options),
    };
    const config = layer.config;
    return {
      api,
      // the layer reads these when a transaction or a timer starts, so a change applies to new ones
      setParam(name, value) {
        const ms = value as number;
        if (name === 't1') config.t1 = ms;
        else if (name === 't2') config.t2 = ms;
        else if (name === 't4') config.t4 = ms;
        else if (name === 'frTimer') config.frTimeout = ms;
        else if (name === 'frInvTimer') config.frInviteTimeout = ms;
        else if (name === 'wtTimer') config.wait = ms;
        else throw new Error(`tm: ${name} cannot be changed at runtime`);
      },
      stop: () => layer.stop(),
    };
  },
});

/** Sends a request of olelo's own in a client transaction; resolves with the final response. */
async function originate(
  core: Pipeline,
  layer: TransactionLayer,
  options: NewRequestOptions,
): Promise<SipResponse> {
  const hop = parseUri(
    options.nextHop ?? (typeof options.uri === 'string' ? options.uri : formatUri(options.uri)),
  );
  if (!isSipUri(hop)) throw new TypeError('newRequest needs a SIP URI to send to');
  // the same RFC 3263 resolution and listener choice as relayed requests
  const first = (await core.candidates(hop))[0];
  if (first === undefined) throw new Error(`no listener can reach ${formatUri(hop)}`);
  const { destination: dest, listener } = first;
  const branch = generateBranch();
  layer.countLocalTransaction();
  const via = `SIP/2.0/${viaTransport(listener.protocol)} ${listener.advertisedHost}:${listener.advertisedPort};branch=${branch}`;
  const req = createRequest({ ...options, via: [via] });
  const data = req.toBuffer();
  const template = {
    uri: req.requestUri,
    via,
    from: req.getHeader('from') ?? '',
    to: req.getHeader('to') ?? '',
    callId: req.getHeader('call-id') ?? '',
    cseq: req.cseq?.seq ?? 1,
    routes: req.getHeaders('route'),
  };
  return new Promise<SipResponse>((resolve) => {
    const local = (status: number) => {
      const text = `SIP/2.0 ${status} ${status === 408 ? 'Request Timeout' : 'Service Unavailable'}\r\nVia: ${via}\r\nFrom: ${template.from}\r\nTo: ${template.to}\r\nCall-ID: ${template.callId}\r\nCSeq: ${template.cseq} ${req.method}\r\nContent-Length: 0\r\n\r\n`;
      resolve(parseMessage(Buffer.from(text, 'latin1')) as SipResponse);
    };
    const ct: ClientTransaction = layer.createClient(
      {
        clientResponse(_ct, res) {
          if (res.status >= 200) resolve(res);
        },
        clientFailed(_ct, reason) {
          local(reason === 'timeout' ? 408 : 503);
        },
      },
      branch,
      req.method,
      data,
      template,
      dest,
    );
    ct.start();
  });
}
