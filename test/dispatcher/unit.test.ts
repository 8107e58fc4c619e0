/**
 * The dispatcher without a network: the list parser (good and bad lines), the selection algorithms by
 * Kamailio's numbers, failover order, marking, isFromList, call load, reload and the control commands.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestContext } from '../../src/core/context.js';
import { Logger } from '../../src/core/logger.js';
import { Myself } from '../../src/core/myself.js';
import { Dispatcher, weightSlots } from '../../src/modules/dispatcher/dispatcher.js';
import { Prober } from '../../src/modules/dispatcher/health.js';
import {
  DispatcherListError,
  destinationsFromRows,
  parseDispatcherList,
} from '../../src/modules/dispatcher/list.js';
import { dispatcherRpc } from '../../src/modules/dispatcher/rpc.js';
import type { SipRequest } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import type { Listener, Source } from '../../src/transport/types.js';

const log = Logger.create({ level: 'error', sink: () => {} });
const myself = new Myself([]);
const listener: Listener = {
  id: 0,
  protocol: 'udp',
  address: '127.0.0.1',
  port: 5060,
  family: 4,
  advertisedHost: '127.0.0.1',
  advertisedPort: 5060,
};

function source(address = '192.0.2.1', port = 5060): Source {
  return { protocol: 'udp', address, port, family: 4, listener, connectionId: undefined, receivedAt: 0 };
}

let seq = 0;
function request(
  o: { callId?: string; from?: string; to?: string; ruri?: string; method?: string; auth?: string } = {},
  src = source(),
): RequestContext {
  const method = o.method ?? 'INVITE';
  const text =
    `${method} ${o.ruri ?? 'sip:bob@example.com'} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${++seq}\r\n` +
    `Max-Forwards: 70\r\nFrom: <${o.from ?? 'sip:alice@example.com'}>;tag=1\r\nTo: <${o.to ?? 'sip:bob@example.com'}>\r\n` +
    `Call-ID: ${o.callId ?? `call-${seq}`}\r\nCSeq: 1 ${method}\r\n` +
    (o.auth === undefined ? '' : `Proxy-Authorization: Digest username="${o.auth}", realm="x"\r\n`) +
    'Content-Length: 0\r\n\r\n';
  return new RequestContext(parseMessage(Buffer.from(text, 'latin1')) as SipRequest, src, log, myself);
}

const LIST = `
# set 1: three gateways
1 sip:10.0.0.1:5060 0 0 weight=50;rweight=50;duid=a
1 sip:10.0.0.2:5060 0 0 weight=30;rweight=30;duid=b
1 sip:10.0.0.3:5060 0 0 weight=20;rweight=20;duid=c;maxload=2
# set 2: priorities, an inactive one and a forced socket
2 sip:10.0.1.1 0 5
2 sip:10.0.1.2:5070 1 10 socket=udp:127.0.0.1:5060;ping_from=sip:probe@lb.example
2 sip:10.0.1.3:5080;transport=tcp 0 20
`;

function dispatcher(): Dispatcher {
  const d = new Dispatcher();
  d.load(parseDispatcherList(LIST, 'test.list'));
  return d;
}

const hop = (req: RequestContext) => String(req.nextHop);

describe('dispatcher list parser', () => {
  it('reads set id, URI, flags, priority and attributes; skips comments and blank lines', () => {
    const records = parseDispatcherList(LIST, 'test.list');
    assert.equal(records.length, 6);
    const r = records[4]!;
    assert.equal(r.setId, 2);
    assert.equal(r.uri, 'sip:10.0.1.2:5070');
    assert.equal(r.flags, 1);
    assert.equal(r.priority, 10);
    assert.equal(r.attrs.socket, 'udp:127.0.0.1:5060');
    assert.equal(r.attrs.pingFrom, 'sip:probe@lb.example');
    assert.equal(r.origin, 'test.list:8'); // the list starts with an empty line
    assert.equal(records[0]!.attrs.weight, 50);
    assert.equal(records[0]!.attrs.duid, 'a');
    assert.equal(records[2]!.attrs.maxload, 2);
    assert.equal(records[3]!.flags, 0);
    assert.equal(records[3]!.priority, 5);
    const minimal = parseDispatcherList('3 sip:gw.example.com   # trailing comment\n\t4\tsip:h:5\t8');
    assert.deepEqual(
      minimal.map((x) => [x.setId, x.uri, x.flags, x.priority, x.attrs.body]),
      [
        [3, 'sip:gw.example.com', 0, 0, ''],
        [4, 'sip:h:5', 8, 0, ''],
      ],
    );
    const custom = parseDispatcherList('1 sip:h 0 0 weight=10;region=eu;tier=gold')[0]!;
    assert.equal(custom.attrs.all.get('region'), 'eu');
    assert.equal(custom.attrs.all.get('tier'), 'gold');
  });

  it('rejects a bad line with an error naming the source and the line', () => {
    const bad: [string, RegExp][] = [
      ['x sip:h', /set id is not an integer/],
      ['1', /needs a set id and a SIP URI/],
      ['1 http://h', /not a SIP URI/],
      ['1 sip:h abc', /flags is not an integer/],
      ['1 sip:h 0 high', /priority is not an integer/],
      ['1 sip:h 0 0 weight=150', /weight must be 0-100/],
      ['1 sip:h 0 0 weight', /not name=value/],
      ['1 sip:h 0 0 socket=10.0.0.1', /socket must be proto:address:port/],
      ['1 sip:h 0 0 ping_from=nobody', /ping_from is not a SIP URI/],
      ['-1 sip:h', /must not be negative/],
    ];
    for (const [line, reason] of bad) {
      const text = `# ok\n1 sip:10.0.0.1\n\n${line}\n2 sip:10.0.0.2`;
      assert.throws(
        () => parseDispatcherList(text, 'my.list'),
        (e: unknown) =>
          e instanceof DispatcherListError &&
          e.line === 4 &&
          e.source === 'my.list' &&
          reason.test(e.message) &&
          e.message.startsWith('my.list:4: '),
        line,
      );
    }
  });

  it("reads rows of Kamailio's dispatcher table, naming a bad row by its id", () => {
    const records = destinationsFromRows([
      {
        id: 1,
        setid: 1,
        destination: 'sip:10.0.0.1',
        flags: 0,
        priority: 3,
        attrs: 'weight=10',
        description: 'gw',
      },
    ]);
    assert.equal(records[0]!.priority, 3);
    assert.equal(records[0]!.attrs.weight, 10);
    assert.equal(records[0]!.description, 'gw');
    assert.throws(
      () => destinationsFromRows([{ id: 7, setid: 1, destination: 'mailto:x@y' }]),
      /dispatcher table row:7: not a SIP URI/,
    );
  });
});

describe('dispatcher selection (Kamailio algorithm numbers)', () => {
  it('4 round-robin cycles exactly and keeps the others for failover in order', () => {
    const d = dispatcher();
    const hops = Array.from({ length: 9 }, () => {
      const req = request();
      assert.equal(d.select(req, 1, 4), true);
      return hop(req);
    });
    assert.deepEqual(hops, [
      'sip:10.0.0.1:5060',
      'sip:10.0.0.2:5060',
      'sip:10.0.0.3:5060',
      'sip:10.0.0.1:5060',
      'sip:10.0.0.2:5060',
      'sip:10.0.0.3:5060',
      'sip:10.0.0.1:5060',
      'sip:10.0.0.2:5060',
      'sip:10.0.0.3:5060',
    ]);
    const req = request();
    d.select(req, 1, 4);
    assert.equal(hop(req), 'sip:10.0.0.1:5060');
    assert.equal(d.next(req), true);
    assert.equal(hop(req), 'sip:10.0.0.2:5060');
    assert.equal(d.next(req), true);
    assert.equal(hop(req), 'sip:10.0.0.3:5060');
    assert.equal(d.next(req), false);
  });

  it('0/1/2/3/5/7 hashes are stable per key and spread over the set', () => {
    const d = dispatcher();
    const cases: [number, (k: string) => RequestContext][] = [
      [0, (k) => request({ callId: k })],
      [1, (k) => request({ from: `sip:${k}@example.com` })],
      [2, (k) => request({ to: `sip:${k}@example.com` })],
      [3, (k) => request({ ruri: `sip:${k}@example.com` })],
      [5, (k) => request({ auth: k })],
      [
        7,
        (k) => {
          const r = request();
          r.set('dispatcher.hash', k);
          return r;
        },
      ],
    ];
    for (const [alg, make] of cases) {
      const seen = new Set<string>();
      for (let i = 0; i < 60; i++) {
        const key = `key${i}`;
        const a = make(key);
        const b = make(key);
        d.select(a, 1, alg);
        d.select(b, 1, alg);
        assert.equal(hop(a), hop(b), `algorithm ${alg} key ${key}`);
        seen.add(hop(a));
      }
      assert.equal(seen.size, 3, `algorithm ${alg} uses every destination`);
    }
    // URI parameters do not change the From hash
    const a = request({ from: 'sip:carol@example.com' });
    const b = request({ from: 'sip:carol@example.com;transport=tcp' });
    d.select(a, 1, 1);
    d.select(b, 1, 1);
    assert.equal(hop(a), hop(b));
  });

  it('8 picks the highest priority active destination; an inactive one is skipped', () => {
    const d = dispatcher();
    for (let i = 0; i < 5; i++) {
      const req = request();
      d.select(req, 2, 8);
      assert.equal(hop(req), 'sip:10.0.1.3:5080;transport=tcp');
      // 10.0.1.2 (priority 10) is inactive in the list: the failover goes to priority 5 next
      assert.equal(d.next(req), true);
      assert.equal(hop(req), 'sip:10.0.1.1');
      assert.equal(d.next(req), false);
    }
  });

  it('sets the socket of a destination that has one', () => {
    const d = dispatcher();
    const req = request();
    d.sets.get(2)!.forEach((x) => {
      d.setState(x, x.uri === 'sip:10.0.1.2:5070' ? 'active' : 'inactive', 'test');
    });
    assert.equal(d.select(req, 2, 8), true);
    assert.equal(hop(req), 'sip:10.0.1.2:5070');
    assert.equal(req.sendSocket, 'udp:127.0.0.1:5060');
  });

  it('9 follows the weights exactly over each 100 calls; 11 shares among the active ones', () => {
    const d = dispatcher();
    const count = (alg: number, n: number) => {
      const c = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const req = request({ method: 'OPTIONS' });
        d.select(req, 1, alg);
        c.set(hop(req), (c.get(hop(req)) ?? 0) + 1);
      }
      return c;
    };
    assert.deepEqual([...count(9, 300)].sort(), [
      ['sip:10.0.0.1:5060', 150],
      ['sip:10.0.0.2:5060', 90],
      ['sip:10.0.0.3:5060', 60],
    ]);
    assert.deepEqual([...count(11, 100)].sort(), [
      ['sip:10.0.0.1:5060', 50],
      ['sip:10.0.0.2:5060', 30],
      ['sip:10.0.0.3:5060', 20],
    ]);
    // 10.0.0.1 out: relative weights 30:20 among the others
    d.setState(d.sets.get(1)![0]!, 'inactive', 'test');
    assert.deepEqual([...count(11, 50)].sort(), [
      ['sip:10.0.0.2:5060', 30],
      ['sip:10.0.0.3:5060', 20],
    ]);
    const slots = weightSlots(d.sets.get(1)!);
    assert.equal(slots.length, 100);
    // interleaved: any 10 consecutive slots hold every destination
    assert.equal(new Set(slots.slice(0, 10)).size, 3);
  });

  it('10 sends to the least loaded destination under its maxload; BYE and failure release', () => {
    const d = dispatcher();
    const calls: RequestContext[] = [];
    for (let i = 0; i < 6; i++) {
      const req = request({ callId: `load-${i}` });
      assert.equal(d.select(req, 1, 10), true);
      calls.push(req);
    }
    assert.deepEqual(
      d.sets.get(1)!.map((x) => x.load),
      [2, 2, 2],
    );
    // 10.0.0.3 has maxload=2: the next goes elsewhere
    const seventh = request({ callId: 'load-6' });
    d.select(seventh, 1, 10);
    assert.notEqual(hop(seventh), 'sip:10.0.0.3:5060');
    assert.equal(d.loadUpdate(request({ method: 'BYE', callId: 'load-0' })), true);
    assert.equal(d.loadUpdate(request({ method: 'BYE', callId: 'load-0' })), false);
    // other algorithms count nothing (as in Kamailio: load is call-load's alone)
    const before = d.sets.get(1)!.map((x) => x.load);
    assert.equal(d.select(request({ callId: 'rr-1' }), 1, 4), true);
    assert.deepEqual(
      d.sets.get(1)!.map((x) => x.load),
      before,
    );
    // failover moves the call's load
    const f = request({ callId: 'load-f' });
    d.select(f, 1, 10);
    const first = d.current(f)!;
    d.next(f);
    const second = d.current(f)!;
    assert.equal(first.load, before[d.sets.get(1)!.indexOf(first)]);
    assert.equal(second.load, before[d.sets.get(1)!.indexOf(second)]! + 1);
    d.loadUnset(f);
    assert.deepEqual(
      d.sets.get(1)!.map((x) => x.load),
      before,
    );
    assert.equal(d.activeCalls, 6);
  });

  it('12 relays to every active destination in parallel; 6 and 13 pick active ones', () => {
    const d = dispatcher();
    const req = request();
    d.select(req, 1, 12);
    assert.equal(hop(req), 'sip:10.0.0.1:5060');
    assert.deepEqual(
      req.branches?.map((b) => b.nextHop),
      ['sip:10.0.0.2:5060', 'sip:10.0.0.3:5060'],
    );
    d.sets.get(1)![0]!.latency.add(30);
    d.sets.get(1)![1]!.latency.add(5);
    d.sets.get(1)![2]!.latency.add(10);
    const l = request();
    d.select(l, 1, 13);
    assert.equal(hop(l), 'sip:10.0.0.2:5060');
    d.setState(d.sets.get(1)![1]!, 'inactive', 'test');
    for (let i = 0; i < 20; i++) {
      const r = request();
      d.select(r, 1, 6);
      assert.notEqual(hop(r), 'sip:10.0.0.2:5060');
    }
    assert.throws(() => d.select(request(), 1, 99), /unknown dispatcher algorithm 99/);
  });

  it('marks the current destination from a failure; none active means false', () => {
    const d = dispatcher();
    const req = request();
    d.select(req, 1, 4);
    assert.equal(d.mark(req, 'probing'), true);
    assert.equal(d.sets.get(1)![0]!.stateLetters, 'IP');
    for (const x of d.sets.get(1)!) d.setState(x, 'inactive', 'test');
    assert.equal(d.select(request(), 1, 4), false);
    assert.equal(d.select(request(), 9, 4), false);
    assert.equal(d.mark(request(), 'inactive'), false);
  });

  it('tells requests from a set member by address and port', () => {
    const d = dispatcher();
    assert.equal(d.isFromList(request({}, source('10.0.0.2', 5060))), true);
    assert.equal(d.isFromList(request({}, source('10.0.0.2', 5060)), 1), true);
    assert.equal(d.isFromList(request({}, source('10.0.0.2', 5060)), 2), false);
    assert.equal(d.isFromList(request({}, source('10.0.1.1', 5060)), 2), true);
    assert.equal(d.isFromList(request({}, source('10.0.0.2', 5061))), false);
    assert.equal(d.isFromList(request({}, source('192.0.2.99', 5060))), false);
  });

  it('reload swaps the sets at once; a call in progress keeps its destinations; state survives', () => {
    const d = dispatcher();
    const req = request();
    d.select(req, 1, 8);
    const kept = d.sets.get(1)![1]!;
    d.setState(kept, 'inactive', 'test');
    d.load(parseDispatcherList('1 sip:10.0.0.2:5060 0 0 weight=30;rweight=30;duid=b\n1 sip:10.0.0.9'));
    assert.equal(d.sets.get(1)!.length, 2);
    assert.equal(d.sets.get(1)![0], kept, 'unchanged destination kept (with its state)');
    assert.equal(d.sets.has(2), false);
    // the request still fails over within what it was given
    assert.equal(d.next(req), true);
    assert.equal(hop(req), 'sip:10.0.0.3:5060');
  });
});

describe('dispatcher control commands', () => {
  it('list, set_state, reload and ping_active shaped like Kamailio', async () => {
    const d = dispatcher();
    const prober = new Prober(d, async () => assert.fail('no probe'), {
      mode: 'all',
      method: 'OPTIONS',
      from: 'sip:x@y',
      accepted: () => true,
      failuresToInactive: 1,
      successesToActive: 1,
      timeout: 100,
    });
    let reloaded = 0;
    const rpc = dispatcherRpc(d, prober, async () => {
      reloaded++;
      if (reloaded > 1) throw new Error('bad.list:3: not a SIP URI');
    });
    const list = rpc['dispatcher.list']();
    assert.equal(list.NRSETS, 2);
    const set2 = list.RECORDS[1]!.SET;
    assert.equal(set2.ID, 2);
    assert.deepEqual(
      set2.TARGETS.map((t) => [t.DEST.URI, t.DEST.FLAGS, t.DEST.PRIORITY]),
      [
        ['sip:10.0.1.3:5080;transport=tcp', 'AX', 20],
        ['sip:10.0.1.2:5070', 'IX', 10],
        ['sip:10.0.1.1', 'AX', 5],
      ],
    );
    assert.equal(list.RECORDS[0]!.SET.TARGETS[2]!.DEST.ATTRS.MAXLOAD, 2);
    assert.deepEqual(Object.keys(set2.TARGETS[0]!.DEST.LATENCY), ['AVG', 'STD', 'EST', 'MAX', 'TIMEOUT']);
    rpc['dispatcher.set_state']('ip', 1, 'sip:10.0.0.1:5060');
    assert.equal(d.sets.get(1)![0]!.stateLetters, 'IP');
    rpc['dispatcher.set_state']('a', 1, 'all');
    assert.deepEqual(
      d.sets.get(1)!.map((x) => x.stateLetters),
      ['AX', 'AX', 'AX'],
    );
    assert.throws(() => rpc['dispatcher.set_state']('a', 1, 'sip:10.9.9.9'), /destination not found/);
    assert.throws(() => rpc['dispatcher.set_state']('zz', 1, 'all'), /bad state/);
    await rpc['dispatcher.reload']();
    await assert.rejects(rpc['dispatcher.reload'](), /reload failed: bad.list:3/);
    assert.equal(rpc['dispatcher.ping_active'](), 1);
    assert.equal(rpc['dispatcher.ping_active'](0), 0);
    assert.equal(prober.active, false);
  });

  it('probes: failures make a destination inactive, successes bring it back, latency is kept', async () => {
    const d = new Dispatcher();
    d.load(parseDispatcherList('1 sip:10.0.0.1\n1 sip:10.0.0.2 4'));
    let up = false;
    const prober = new Prober(
      d,
      async () => {
        const status = up ? 200 : 503;
        return parseMessage(
          Buffer.from(
            `SIP/2.0 ${status} X\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
          ),
        ) as never;
      },
      {
        mode: 'all',
        method: 'OPTIONS',
        from: 'sip:x@y',
        accepted: (s) => s < 300,
        failuresToInactive: 2,
        successesToActive: 2,
        timeout: 1000,
      },
    );
    const [gw, disabled] = d.sets.get(1)!;
    await prober.round();
    assert.equal(gw!.state, 'active', 'one failure is not enough');
    await prober.round();
    assert.equal(gw!.state, 'inactive');
    assert.equal(disabled!.state, 'disabled');
    assert.equal(prober.probesSent, 2, 'a disabled destination is never probed');
    up = true;
    await prober.round();
    assert.equal(gw!.state, 'inactive');
    await prober.round();
    assert.equal(gw!.state, 'active');
    assert.equal(gw!.latency.count, 4);
  });
});
