/**
 * The benchmark input: a ~900-byte re-INVITE as a proxy receives it, in {@link POOL_SIZE} variants that
 * differ in branch, tags, Call-ID and CSeq (all the same length), and the values a proxy adds to it.
 */
export const PROXY_HOST = 'proxy.olelo.example.com';
/** A fixed branch: generating one is the same cost for every peer and not what is measured here. */
export const PROXY_BRANCH = 'z9hG4bK.olelo.bench.0001';
export const NEW_VIA = `SIP/2.0/UDP ${PROXY_HOST}:5060;branch=${PROXY_BRANCH}`;
export const NEW_RR = `<sip:${PROXY_HOST};lr>`;

export const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.168.1.20',
  's=-',
  'c=IN IP4 192.168.1.20',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');

/** Messages in the pool: they differ in branch, tags, Call-ID and CSeq (same length). */
export const POOL_SIZE = 64;

export interface Variant {
  k: string;
  cseq: number;
}

export function variant(i: number): Variant {
  return { k: String(i).padStart(4, '0'), cseq: 1000 + i };
}

/** A re-INVITE as a proxy receives it from the previous hop (which record-routed and added its Via). */
export function invite(v: Variant): Buffer {
  const head = [
    'INVITE sip:bob@biloxi.com SIP/2.0',
    `Via: SIP/2.0/UDP p1.atlanta.com;branch=z9hG4bK2d4790.${v.k};rport`,
    `Via: SIP/2.0/UDP 192.168.1.20:5060;received=198.51.100.7;rport=40123;branch=z9hG4bK74bf9a${v.k}`,
    'Max-Forwards: 69',
    'Route: <sip:p2.biloxi.com;lr>',
    'Record-Route: <sip:p1.atlanta.com;lr>',
    `From: "Alice" <sip:alice@atlanta.com>;tag=9fxced76sl${v.k}`,
    `To: "Bob" <sip:bob@biloxi.com>;tag=8321234356${v.k}`,
    `Call-ID: 3848276298220188511${v.k}@atlanta.com`,
    `CSeq: ${v.cseq} INVITE`,
    'Contact: "Alice" <sip:alice@192.168.1.20:5060;transport=udp;ob>;expires=3600',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, UPDATE',
    'Supported: replaces, timer, 100rel',
    'Expires: 180',
    'User-Agent: olelo-bench/1.0',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(SDP)}`,
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${SDP}`, 'latin1');
}

export const POOL: Buffer[] = [];
for (let i = 0; i < POOL_SIZE; i++) POOL.push(invite(variant(i)));
export const MESSAGE_BYTES = POOL[0]!.length;
export const HEADER_FIELDS = 16;
