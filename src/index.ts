/**
 * olelo: a SIP signalling server. The SIP message core is also published on its own as `olelo/sip`.
 * @packageDocumentation
 */
export * as sip from './sip/index.js';
