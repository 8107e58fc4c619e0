/**
 * nathelper: clients behind NAT (Kamailio's `nathelper`): detect them, record where their REGISTER really
 * came from so the registrar routes back through the NAT binding, and fix the Contact of their
 * dialog-forming requests and responses.
 */
import type { ReplyContext, RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import {
  type AliasResult,
  fixNatedContact,
  handleRuriAlias,
  isBehindNat,
  isPrivateAddress,
  type NatTest,
  natTestFlags,
  RECEIVED_VAR,
  receivedUri,
  setContactAlias,
} from './nat.js';

/** The `nathelper` script API. */
export interface NathelperApi {
  /**
   * Kamailio's `nat_uac_test`: true when any of `tests` finds a NAT — names (`'contact-private'`,
   * `'via-received'`, `'via-port'`, ...) or Kamailio's bit flags (19 = 1|2|16). Default: `natTests`.
   */
  isBehindNat(msg: RequestContext | ReplyContext, tests?: number | readonly NatTest[]): boolean;
  /**
   * Kamailio's `fix_nated_register`: the registrar's `save` will store the REGISTER's source
   * (`sip:<ip>:<port>;transport=<proto>`) as the binding's `received`, and route to it.
   */
  fixNatedRegister(req: RequestContext): void;
  /** Kamailio's `fix_nated_contact`: the first Contact's host:port becomes the source address. False without a SIP Contact. */
  fixNatedContact(msg: RequestContext | ReplyContext): boolean;
  /** Kamailio's `set_contact_alias`: adds `;alias=ip~port~transport` (the source) to the first Contact URI. */
  setContactAlias(msg: RequestContext | ReplyContext): boolean;
  /** Kamailio's `handle_ruri_alias`: routes to the Request-URI's `alias` address and removes the parameter. */
  handleRuriAlias(req: RequestContext): AliasResult;
  /** True for RFC 1918, RFC 6598 and IPv6 unique-local addresses (Kamailio's `is_rfc1918`). */
  isPrivateAddress(address: string): boolean;
  /** The source of a message as a URI: what `fixNatedRegister` stores. */
  receivedUri(msg: RequestContext | ReplyContext): string;
}

export const nathelperModule = defineModule({
  name: 'nathelper',
  doc: 'NAT detection, received addresses for the registrar, Contact fixing.',
  params: s.object({
    natTests: s.integer({
      default: 19,
      min: 0,
      max: 255,
      doc: "Tests isBehindNat runs when the script names none, as Kamailio's nat_uac_test flags: 1 private Contact, 2 Via host is not the source, 4 private Via, 8 private SDP address, 16 Via port is not the source port, 32 private source, 64 WebSocket, 128 Contact port is not the source port.",
    }),
  }),
  create(_core, params) {
    const defaults = params.natTests as number;
    const api: NathelperApi = {
      isBehindNat: (msg, tests) => isBehindNat(msg, tests === undefined ? defaults : natTestFlags(tests)),
      fixNatedRegister: (req) => req.set(RECEIVED_VAR, receivedUri(req.source)),
      fixNatedContact,
      setContactAlias,
      handleRuriAlias,
      isPrivateAddress,
      receivedUri: (msg) => receivedUri(msg.source),
    };
    return { api };
  },
});

export {
  type AliasResult,
  DEFAULT_NAT_TESTS,
  NAT_TESTS,
  type NatTest,
  RECEIVED_VAR,
} from './nat.js';
