/**
 * The stateful proxy (tm) against real SIPp UACs and UASes on UDP loopback, with real timing (RFC 3261
 * §16, §17, RFC 6026): error responses and the hop-by-hop ACK, parallel and serial forking, CANCEL,
 * packet loss, final-response timers, the failure route and 2xx retransmissions.
 *
 * Each test starts its own olelo in this process with the routing script below (its tm timers set in the
 * YAML) and its own SIPp processes; the tests are independent and run concurrently. Every SIPp run is
 * bounded (-m, -timeout 20 s with -timeout_error, an outer kill timer) and traces into a temporary folder
 * removed at the end (kept when OLELO_KEEP_SIPP is set, for debugging). The SIPp scenarios are
 * test/sipp/tm-*.xml.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { startServer } from '../helpers/server.js';
import {
  hasSipp,
  headerValues,
  killAllSipp,
  runSippUac,
  SCENARIOS,
  type SippProcess,
  type SippResult,
  startSippUas,
  tempDir,
} from '../helpers/sipp.js';

/** Bound of each test: SIPp's own bounds are 20 s + 5 s. */
const T = { timeout: 40_000 };
const SIPP = hasSipp();
const LOCAL = '127.0.0.1';

/**
 * Routing for these tests: `X-Targets: <uri>;q=1, <uri>;q=0.5` forks to those targets (equal q in
 * parallel, serially by decreasing q), `X-Failover: uri` arms a failure route that re-routes there after
 * a 500 or a 408 (timeout); `none` means unused. Without targets the request goes to its Request-URI.
 */
const SCRIPT = `
import { defineRoutes } from 'olelo/script';

export default defineRoutes({
  async request(req, m) {
    if (!m.maxfwd.process(req, 70)) {
      m.sl.reply(req, 483, 'Too Many Hops');
      return;
    }
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) {
        if (req.method === 'ACK') await m.forward(req);
        else await m.tm.relay(req);
      }
      return;
    }
    if (req.method === 'CANCEL' || req.method === 'ACK') {
      await m.forward(req);
      return;
    }
    for (const t of (req.header('x-targets') ?? '').split(',')) {
      const target = /<([^>]+)>(?:;q=([0-9.]+))?/.exec(t);
      if (target !== null) m.tm.appendBranch(req, target[1], target[2] === undefined ? 1 : Number(target[2]));
    }
    const failover = req.header('x-failover');
    if (failover !== undefined && failover.startsWith('sip:')) {
      m.tm.onFailure(req, async (f) => {
        if (f.checkStatus(/^(500|408)$/)) {
          f.appendBranch(failover);
          await f.relay();
        }
      });
    }
    m.rr.recordRoute(req);
    await m.tm.relay(req);
  },
});
`;

/** One message of a SIPp `-trace_msg` log. */
interface Traced {
  /** When SIPp logged it, ms since the epoch (local time of the log; only differences matter). */
  time: number;
  sent: boolean;
  text: string;
}

/** Every message of a `-trace_msg` log, sent and received, in order. */
function traced(log: string): Traced[] {
  const out: Traced[] = [];
  const re =
    /^-{20,}\s+(\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d)\.(\d{3})\d*\s*\n\S+ message (sent|received) (?:\[\d+\] bytes :|\(\d+ bytes\):)\s*\n\n?([\s\S]*?)(?=^-{20,}|(?![\s\S]))/gm;
  for (const m of log.matchAll(re)) {
    const time = Date.parse(`${m[1]}T${m[2]}.${m[3]}`);
    assert.ok(Number.isFinite(time), `a SIPp trace date: ${m[0].slice(0, 80)}`);
    out.push({ time, sent: m[4] === 'sent', text: m[5]!.trim() });
  }
  return out;
}

const received = (r: SippResult) => traced(r.messages).filter((m) => !m.sent);
const sent = (r: SippResult) => traced(r.messages).filter((m) => m.sent);

/** Requests with `method` a SIPp process received. */
function requests(r: SippResult, method: string): Traced[] {
  return received(r).filter((m) => m.text.startsWith(`${method} `));
}

/** Responses to `method` a SIPp process received, optionally only status `status`. */
function responses(r: SippResult, method: string, status?: number): Traced[] {
  return received(r).filter(
    (m) =>
      m.text.startsWith(status === undefined ? 'SIP/2.0 ' : `SIP/2.0 ${status} `) &&
      new RegExp(`^\\d+ ${method}$`).test(headerValues(m.text, 'CSeq')[0] ?? ''),
  );
}

/** How many calls (distinct Call-IDs) `messages` belong to: retransmissions count once. */
const calls = (messages: Traced[]) => new Set(messages.map((m) => callId(m))).size;
const statusOf = (m: Traced) => Number(m.text.slice(8, 11));
const callId = (m: Traced) => headerValues(m.text, 'Call-ID')[0]!;
const topBranch = (m: Traced) => /;branch=([^;,\s]+)/.exec(headerValues(m.text, 'Via')[0]!)?.[1];
const toTag = (m: Traced) => /;tag=([^;\s]+)/.exec(headerValues(m.text, 'To')[0] ?? '')?.[1];

/** Final statuses (>= 200) of INVITE responses, one per call (retransmissions collapsed), sorted. */
function finalStatuses(r: SippResult): number[] {
  const seen = new Map<string, number>();
  for (const m of responses(r, 'INVITE'))
    if (statusOf(m) >= 200) seen.set(`${callId(m)} ${statusOf(m)} ${toTag(m)}`, statusOf(m));
  return [...seen.values()].sort();
}

/** Messages SIPp dropped on purpose (`-lost`): the sum of the Lost column of its last scenario screen. */
function lostMessages(screen: string): number {
  const last = screen.slice(screen.lastIndexOf('Scenario Screen'));
  let lost = 0;
  for (const row of last.split('\n')) {
    if (!/-{10}>|<-{10}/.test(row)) continue;
    const numbers = row.match(/\d+/g) ?? [];
    lost += Number(numbers.at(-1) ?? 0);
  }
  return lost;
}

/**
 * Asserts that SIPp runs ended by themselves with every one of `calls` calls successful; a failure shows
 * what every run of the test left behind (a UAC's failure is often explained by its UAS).
 */
function assertAllSucceeded(runs: SippResult[], calls: number): void {
  const all = runs.map((r) => r.summary).join('\n');
  for (const r of runs) {
    assert.equal(r.killed, false, all);
    assert.equal(r.code, 0, all);
    assert.equal(r.successful, calls, all);
    assert.equal(r.failed, 0, all);
  }
}

/** Waits for a UAS to finish its calls; kills it when it has not after `ms`. */
async function finished(uas: SippProcess, ms = 8000): Promise<SippResult> {
  const timer = setTimeout(() => uas.kill(), ms);
  try {
    return await uas.done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * For every INVITE a UAS received: it also received a CANCEL (when `cancel`) and an ACK for its error
 * response, both hop-by-hop from the proxy, with the INVITE's branch (RFC 3261 §9.1, §17.1.1.3); and
 * exactly one ACK per call (a caller's ACK for an error response is absorbed by the proxy).
 */
function assertHopByHop(r: SippResult, cancel: boolean): void {
  const invites = requests(r, 'INVITE');
  assert.ok(invites.length > 0, r.summary);
  for (const inv of invites) {
    const id = callId(inv);
    const acks = requests(r, 'ACK').filter((a) => callId(a) === id);
    // one ACK (the proxy's own retransmissions aside, should the UAS have retransmitted its response)
    assert.equal(new Set(acks.map((a) => a.text)).size, 1, `one ACK for ${id}: ${r.summary}`);
    const ack = acks[0]!;
    assert.equal(topBranch(ack), topBranch(inv), 'the ACK has the INVITE branch');
    assert.equal(headerValues(ack.text, 'Via').length, 1, 'the proxy ACK has only its own Via');
    assert.match(headerValues(ack.text, 'CSeq')[0]!, /^1 ACK$/);
    assert.ok(toTag(ack), 'the ACK has the error response To tag');
    const cancels = requests(r, 'CANCEL').filter((c) => callId(c) === id);
    assert.equal(cancels.length > 0, cancel, `CANCEL for ${id}: ${r.summary}`);
    for (const c of cancels) {
      assert.equal(topBranch(c), topBranch(inv), 'the CANCEL has the INVITE branch');
      assert.equal(inv.text.split('\n', 1)[0]!.replace('INVITE', 'CANCEL'), c.text.split('\n', 1)[0]);
    }
  }
}

describe('SIPp through olelo: the stateful proxy (tm)', {
  skip: SIPP ? false : 'sipp (Debian sip-tester) is not installed',
  concurrency: true,
}, () => {
  let dir: ReturnType<typeof tempDir>;
  let script: string;

  before(() => {
    dir = tempDir('olelo-sipp-tm-');
    script = join(dir.path, 'tm-script.ts');
    writeFileSync(script, SCRIPT);
  });

  after(() => {
    killAllSipp();
    if (process.env.OLELO_KEEP_SIPP === undefined) dir?.remove();
  });

  /** What a test gets: an olelo on UDP with the test script, and UASes stopped with it. */
  interface Scene {
    server: Server;
    port: number;
    /** Starts a SIPp UAS (killed at the end of the test). */
    uas(scenario: string, name: string, calls: number, args?: string[]): Promise<SippProcess>;
    /** Runs a SIPp UAC through olelo towards `target` (host:port), with the script's headers. */
    uac(
      scenario: string,
      name: string,
      calls: number,
      target: string,
      options?: { targets?: string[]; failover?: string; args?: string[] },
    ): Promise<SippResult>;
  }

  /** Runs `fn` with an olelo whose tm parameters are `tm` (`modules.tm` in the YAML), then cleans up. */
  async function scene(tm: Record<string, string>, fn: (s: Scene) => Promise<void>): Promise<void> {
    const lines = Object.entries(tm).map(([k, v]) => `    ${k}: ${v}`);
    const yaml = lines.length === 0 ? '' : `modules:\n  tm:\n${lines.join('\n')}\n`;
    const { server, listener } = await startServer(yaml, { listen: [`udp:${LOCAL}:0`], script });
    const port = listener('udp').port;
    const started: SippProcess[] = [];
    try {
      await fn({
        server,
        port,
        async uas(scenario, name, calls, args = []) {
          const p = await startSippUas({
            scenario,
            local: LOCAL,
            calls,
            dir: dir.path,
            name,
            args,
            randomMediaPort: true,
          });
          started.push(p);
          return p;
        },
        async uac(scenario, name, calls, target, options = {}) {
          return runSippUac({
            scenario,
            local: LOCAL,
            calls,
            remote: `${LOCAL}:${port}`,
            args: [
              ...['-key', 'target', target],
              ...['-key', 'targets', options.targets?.join(', ') ?? 'none'],
              ...['-key', 'failover', options.failover ?? 'none'],
              ...(options.args ?? []),
            ],
            randomMediaPort: true,
            dir: dir.path,
            name,
          });
        },
      });
    } finally {
      for (const p of started) p.kill();
      await server.stop(100);
    }
  }

  /**
   * tm-uas-reject.xml answering `status reason` instead of 486 (a copy in the temporary folder); without
   * its 100 Trying when `trying` is false.
   */
  function rejectScenario(status: number, reason: string, trying = true): string {
    const path = join(dir.path, `tm-uas-reject-${status}${trying ? '' : '-no100'}.xml`);
    let text = readFileSync(`${SCENARIOS}tm-uas-reject.xml`, 'latin1');
    assert.equal(text.split('SIP/2.0 486 Busy Here').length, 2, 'one status line to replace');
    text = text.replace('SIP/2.0 486 Busy Here', `SIP/2.0 ${status} ${reason}`);
    if (!trying) {
      const without = text.replace(/ *<send>\s*<!\[CDATA\[\s*SIP\/2\.0 100 Trying[\s\S]*?<\/send>\n/, '');
      assert.notEqual(without, text, 'the 100 Trying block to remove');
      text = without;
    }
    writeFileSync(path, text, 'latin1');
    return path;
  }

  const at = (p: SippProcess) => `${LOCAL}:${p.port}`;
  const sipAt = (p: SippProcess) => `sip:service@${LOCAL}:${p.port}`;
  const stats = (server: Server) => ({ ...server.stats.snapshot('core'), ...server.stats.snapshot('tm') });
  const tagOf = (p: SippProcess) => new RegExp(`^${p.pid}SIPpTag01`);

  it('forwards 302/486/603 as they are and 503 as 500, ACKs each hop by hop, absorbs the caller ACK', T, () =>
    scene({}, async ({ server, uas, uac }) => {
      const N = 2;
      // [status, reason, status the caller gets, whether the UAS sends 100 Trying first]
      const cases: Array<[number, string, number, boolean]> = [
        [302, 'Moved Temporarily', 302, true],
        [486, 'Busy Here', 486, true],
        [503, 'Service Unavailable', 500, true],
        // no provisional: RFC 3263 §4.3 failover is tried first, but there is no other destination
        [503, 'Service Unavailable', 500, false],
        [603, 'Decline', 603, true],
      ];
      const outcomes = await Promise.allSettled(
        cases.map(async ([code, reason, expected, trying]) => {
          const name = `final-${code}${trying ? '' : '-no100'}`;
          const u = await uas(rejectScenario(code, reason, trying), `${name}-uas`, N);
          const c = await uac('tm-uac-reject.xml', `${name}-uac`, N, at(u));
          const s = await finished(u);
          assertAllSucceeded([c, s], N);
          assert.deepEqual(finalStatuses(c), Array(N).fill(expected), c.summary);
          assert.equal(calls(requests(s, 'INVITE')), N, s.summary);
          assertHopByHop(s, false);
        }),
      );
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
      const st = stats(server);
      const text = JSON.stringify(st);
      assert.equal(st['tm.3xx_replies'], N, text);
      assert.equal(st['tm.4xx_replies'], N, text);
      assert.equal(st['tm.5xx_replies'], 2 * N, text);
      assert.equal(st['tm.6xx_replies'], N, text);
      assert.ok(st['tm.absorbed_requests']! >= cases.length * N, `every caller ACK absorbed: ${text}`);
      assert.equal(st['core.fwd_requests'], 0, `nothing forwarded statelessly: ${text}`);
    }),
  );

  it(
    'forks in parallel to three UASes: the first 200 wins, the two others are CANCELed and answer 487',
    T,
    () =>
      scene({}, async ({ server, uas, uac }) => {
        const N = 2;
        // the winner answers 300 ms after its 180, so both others have rung (a CANCEL needs a provisional)
        const all = await Promise.all([
          uas('tm-uas-answer.xml', 'fork-winner', N, ['-d', '300']),
          uas('tm-uas-cancel.xml', 'fork-loser1', N),
          uas('tm-uas-cancel.xml', 'fork-loser2', N),
        ]);
        const targets = all.map((u) => `<${sipAt(u)}>`);
        const c = await uac('tm-uac-call.xml', 'fork-uac', N, at(all[0]), { targets });
        const results = await Promise.all(all.map((u) => finished(u)));
        assertAllSucceeded([c, ...results], N);
        // exactly one 2xx per call reached the caller, the winner's; no 487 of a canceled branch
        assert.deepEqual(finalStatuses(c), Array(N).fill(200), c.summary);
        for (const ok of responses(c, 'INVITE', 200)) assert.match(toTag(ok)!, tagOf(all[0]));
        // each UAS got its own branch of the same INVITE
        for (const [i, r] of results.entries()) {
          for (const inv of requests(r, 'INVITE')) assert.match(topBranch(inv)!, new RegExp(`\\.${i}$`));
        }
        assert.equal(requests(results[0], 'CANCEL').length, 0, 'the winner is not canceled');
        for (const r of results.slice(1)) assertHopByHop(r, true);
        const st = stats(server);
        assert.ok(st['tm.2xx_replies']! >= 2 * N, JSON.stringify(st)); // INVITE and BYE
        assert.equal(st['tm.4xx_replies'], 0, JSON.stringify(st));
      }),
  );

  it('forks in parallel: a 603 CANCELs the other branches and goes upstream once they ended', T, () =>
    scene({}, async ({ server, uas, uac }) => {
      const N = 2;
      const all = await Promise.all([
        uas(rejectScenario(603, 'Decline'), 'fork603-decline', N, ['-d', '300']),
        uas('tm-uas-cancel.xml', 'fork603-other1', N),
        uas('tm-uas-cancel.xml', 'fork603-other2', N),
      ]);
      const targets = all.map((u) => `<${sipAt(u)}>;q=0.8`);
      const c = await uac('tm-uac-reject.xml', 'fork603-uac', N, at(all[0]), { targets });
      const results = await Promise.all(all.map((u) => finished(u)));
      assertAllSucceeded([c, ...results], N);
      assert.deepEqual(finalStatuses(c), Array(N).fill(603), c.summary);
      assertHopByHop(results[0], false);
      for (const r of results.slice(1)) assertHopByHop(r, true);
      // RFC 3261 §16.7 step 5: the 6xx waits for the canceled branches' 487s
      for (const r of results.slice(1)) {
        const terminated = sent(r).filter((m) => m.text.startsWith('SIP/2.0 487'));
        assert.ok(terminated.length >= N, r.summary);
        // the first 487 of each call: a retransmission (the proxy's ACK late on a loaded machine) may
        // leave after the 603
        const first = new Map<string, (typeof terminated)[number]>();
        for (const t of terminated) if (!first.has(callId(t))) first.set(callId(t), t);
        assert.equal(first.size, N);
        for (const t of first.values()) {
          const final = responses(c, 'INVITE', 603).find((m) => callId(m) === callId(t));
          assert.ok(final !== undefined && final.time >= t.time, 'the 603 left after the 487s');
        }
      }
      assert.equal(stats(server)['tm.6xx_replies'], N);
    }),
  );

  it(
    'forks serially by q: the q=1.0 UAS answers 486, then the q=0.5 UAS gets the INVITE and answers 200',
    T,
    () =>
      scene({}, async ({ uas, uac }) => {
        const N = 2;
        const [first, second] = await Promise.all([
          uas('tm-uas-reject.xml', 'serial-busy', N, ['-d', '100']),
          uas('tm-uas-answer.xml', 'serial-answer', N),
        ]);
        const targets = [`<${sipAt(second)}>;q=0.5`, `<${sipAt(first)}>;q=1.0`];
        const c = await uac('tm-uac-call.xml', 'serial-uac', N, at(first), { targets });
        const [a, b] = await Promise.all([finished(first), finished(second)]);
        assertAllSucceeded([c, a, b], N);
        assert.deepEqual(finalStatuses(c), Array(N).fill(200), c.summary);
        assertHopByHop(a, false);
        // the second target was tried only after the first one's 486, as the proxy's second branch
        for (const inv of requests(b, 'INVITE')) {
          assert.match(topBranch(inv)!, /\.1$/);
          const busy = sent(a).find((m) => m.text.startsWith('SIP/2.0 486') && callId(m) === callId(inv));
          assert.ok(busy !== undefined && busy.time <= inv.time, 'the q=0.5 INVITE came after the 486');
        }
        for (const ok of responses(c, 'INVITE', 200)) assert.match(toTag(ok)!, tagOf(second));
      }),
  );

  it('CANCEL after the 180: 200 to the CANCEL, CANCEL downstream, 487 to the INVITE', T, () =>
    scene({}, async ({ server, uas, uac }) => {
      const N = 3;
      const u = await uas('tm-uas-cancel.xml', 'cancel-uas', N);
      const c = await uac('tm-uac-cancel.xml', 'cancel-uac', N, at(u));
      const s = await finished(u);
      assertAllSucceeded([c, s], N);
      assert.equal(calls(responses(c, 'CANCEL', 200)), N, c.summary);
      assert.deepEqual(finalStatuses(c), Array(N).fill(487), c.summary);
      assertHopByHop(s, true);
      const st = stats(server);
      assert.equal(st['tm.canceled'], N, JSON.stringify(st));
      assert.ok(st['tm.absorbed_requests']! >= N, `the caller's ACKs for the 487s: ${JSON.stringify(st)}`);
    }),
  );

  it(
    'CANCEL of a UAS that never sends its 487: the caller gets 487 64*T1 after the CANCEL (RFC 3261 §9.1)',
    T,
    () =>
      scene({ t1: '20ms', frInvTimer: '20s' }, async ({ server, uas, uac }) => {
        const N = 2;
        const u = await uas('tm-uas-cancel-mute.xml', 'mute-uas', N);
        const c = await uac('tm-uac-cancel.xml', 'mute-uac', N, at(u));
        const s = await finished(u);
        assertAllSucceeded([c, s], N);
        assert.deepEqual(finalStatuses(c), Array(N).fill(487), c.summary);
        for (const id of new Set(requests(s, 'CANCEL').map(callId))) {
          // olelo's first CANCEL (it retransmits it every T1 until the UAS's 200)
          const cancel = requests(s, 'CANCEL').find((m) => callId(m) === id)!;
          const terminated = responses(c, 'INVITE', 487).find((m) => callId(m) === id);
          assert.ok(terminated !== undefined, c.summary);
          const waited = terminated.time - cancel.time;
          assert.ok(waited >= 64 * 20 - 200 && waited < 10_000, `487 ${waited} ms after the CANCEL`);
        }
        const st = stats(server);
        assert.equal(st['tm.canceled'], N, JSON.stringify(st));
      }),
  );

  it('CANCEL after the 200: 200 to the CANCEL, nothing canceled, the call goes on', T, () =>
    scene({}, async ({ server, uas, uac }) => {
      const N = 3;
      const u = await uas('tm-uas-answer.xml', 'late-cancel-uas', N);
      const c = await uac('tm-uac-late-cancel.xml', 'late-cancel-uac', N, at(u));
      const s = await finished(u);
      assertAllSucceeded([c, s], N);
      assert.equal(calls(responses(c, 'CANCEL', 200)), N, c.summary);
      assert.deepEqual(finalStatuses(c), Array(N).fill(200), c.summary);
      assert.equal(requests(s, 'CANCEL').length, 0, s.summary);
      assert.equal(calls(requests(s, 'ACK')), N, s.summary);
      assert.equal(calls(requests(s, 'BYE')), N, s.summary);
      assert.equal(stats(server)['tm.canceled'], 0);
    }),
  );

  it('completes 20 calls with 10% packet loss at both ends, through retransmissions', T, () =>
    scene({ t1: '200ms' }, async ({ server, port, uas }) => {
      const N = 20;
      const u = await uas('tm-uas-lossy.xml', 'lossy-uas', N, ['-lost', '10']);
      const c = await runSippUac({
        scenario: 'uac-target.xml',
        local: LOCAL,
        calls: N,
        remote: `${LOCAL}:${port}`,
        args: [...['-key', 'target', at(u), '-key', 'via', 'UDP'], ...['-lost', '10', '-r', '10']],
        randomMediaPort: true,
        dir: dir.path,
        name: 'lossy-uac',
      });
      const s = await finished(u, 12_000);
      assertAllSucceeded([c, s], N);
      const st = stats(server);
      const text = JSON.stringify(st);
      assert.ok(st['tm.rpl_retransmissions']! > 0, text);
      assert.equal(st['core.send_errors'], 0, text);
      // the loss was real at both ends (SIPp's Lost column)
      assert.ok(lostMessages(c.screen) > 0, c.screen);
      assert.ok(lostMessages(s.screen) > 0, s.screen);
    }),
  );

  it('fr_inv_timer: a UAS ringing forever is CANCELed after 1 s and the failure route re-routes', T, () =>
    scene({ frInvTimer: '1s' }, async ({ uas, uac }) => {
      const N = 2;
      const [ringing, second] = await Promise.all([
        uas('tm-uas-cancel.xml', 'noanswer-ringing', N),
        uas('tm-uas-answer.xml', 'noanswer-second', N),
      ]);
      const c = await uac('tm-uac-call.xml', 'noanswer-uac', N, at(ringing), { failover: sipAt(second) });
      const [a, b] = await Promise.all([finished(ringing), finished(second)]);
      assertAllSucceeded([c, a, b], N);
      assert.deepEqual(finalStatuses(c), Array(N).fill(200), c.summary);
      for (const ok of responses(c, 'INVITE', 200)) assert.match(toTag(ok)!, tagOf(second));
      assertHopByHop(a, true);
      for (const cancel of requests(a, 'CANCEL')) {
        const rang = sent(a).find((m) => m.text.startsWith('SIP/2.0 180') && callId(m) === callId(cancel));
        assert.ok(rang !== undefined, a.summary);
        const waited = cancel.time - rang.time;
        assert.ok(waited >= 900 && waited < 5000, `CANCEL ${waited} ms after the 180`);
      }
      for (const inv of requests(b, 'INVITE')) assert.match(topBranch(inv)!, /\.1$/);
    }),
  );

  it('a call ringing longer than Timer B (64*T1) is answered: after a 1xx only fr_inv_timer applies', T, () =>
    // RFC 3261 §17.1.1.2: Timer B only fires in Calling; once a provisional came, the proxy's Timer C
    // (fr_inv_timer, §16.8) decides. Timer B is 64*T1 = 640 ms here; the UAS rings for 1.5 s.
    scene({ t1: '10ms', frInvTimer: '10s' }, async ({ server, uas, uac }) => {
      const N = 2;
      const u = await uas('tm-uas-answer.xml', 'long-ring-uas', N, ['-d', '1500']);
      const c = await uac('tm-uac-call.xml', 'long-ring-uac', N, at(u));
      const s = await finished(u);
      assertAllSucceeded([c, s], N);
      assert.deepEqual(finalStatuses(c), Array(N).fill(200), c.summary);
      assert.equal(requests(s, 'CANCEL').length, 0, s.summary);
      assert.equal(stats(server)['tm.4xx_replies'], 0);
    }),
  );

  it('fr_inv_timer without a failure route: the caller gets 408', T, () =>
    scene({ frInvTimer: '1s' }, async ({ server, uas, uac }) => {
      const N = 2;
      const ringing = await uas('tm-uas-cancel.xml', 'timeout-ringing', N);
      const c = await uac('tm-uac-reject.xml', 'timeout-uac', N, at(ringing));
      const s = await finished(ringing);
      assertAllSucceeded([c, s], N);
      assert.deepEqual(finalStatuses(c), Array(N).fill(408), c.summary);
      assertHopByHop(s, true);
      assert.equal(stats(server)['tm.4xx_replies'], N);
    }),
  );

  it('failure route on 500: re-routes to a second UAS whose 200 reaches the caller', T, () =>
    scene({}, async ({ server, uas, uac }) => {
      const N = 2;
      const [failing, second] = await Promise.all([
        uas(rejectScenario(500, 'Server Internal Error'), 'failure500-uas', N),
        uas('tm-uas-answer.xml', 'failure500-second', N),
      ]);
      const c = await uac('tm-uac-call.xml', 'failure500-uac', N, at(failing), { failover: sipAt(second) });
      const [a, b] = await Promise.all([finished(failing), finished(second)]);
      assertAllSucceeded([c, a, b], N);
      assert.deepEqual(finalStatuses(c), Array(N).fill(200), c.summary);
      assertHopByHop(a, false);
      for (const ok of responses(c, 'INVITE', 200)) assert.match(toTag(ok)!, tagOf(second));
      for (const inv of requests(b, 'INVITE')) assert.match(topBranch(inv)!, /\.1$/);
      const st = stats(server);
      assert.equal(st['tm.5xx_replies'], 0, `the 500 stayed in olelo: ${JSON.stringify(st)}`);
    }),
  );

  it(
    'RFC 6026: the UAS 2xx retransmissions and the late ACK pass through after the transaction answered',
    T,
    () =>
      // Timers L and M (64*T1) end 3.2 s after the 200: its retransmissions (0.5 s, 1.5 s, 3.5 s) fall on
      // either side, and the caller ACKs after 4 s. The UAS answers 200 ms after its 180, so the 180 has
      // stopped olelo's INVITE retransmissions (Timer A, 50 ms) before.
      scene({ t1: '50ms' }, async ({ server, uas, uac }) => {
        const N = 2;
        const u = await uas('tm-uas-answer.xml', 'rfc6026-uas', N, ['-d', '200']);
        const c = await uac('tm-uac-call.xml', 'rfc6026-uac', N, at(u), { args: ['-d', '4000'] });
        const s = await finished(u);
        assertAllSucceeded([c, s], N);
        const ids = new Set(requests(s, 'INVITE').map(callId));
        assert.equal(ids.size, N, s.summary);
        for (const id of ids) {
          const isInvite200 = (m: Traced) =>
            m.text.startsWith('SIP/2.0 200') &&
            callId(m) === id &&
            / INVITE$/.test(headerValues(m.text, 'CSeq')[0]!);
          const sentOks = sent(s).filter(isInvite200);
          const oks = received(c).filter(isInvite200);
          assert.ok(sentOks.length >= 4, `the UAS retransmitted its 200: ${s.summary}`);
          assert.equal(oks.length, sentOks.length, 'every 2xx retransmission reached the caller');
          assert.equal(new Set(oks.map(toTag)).size, 1);
          assert.ok(oks.at(-1)!.time - oks[0]!.time > 64 * 50, 'one came after Timers L and M');
          const acks = requests(s, 'ACK').filter((m) => callId(m) === id);
          assert.equal(new Set(acks.map((m) => m.text)).size, 1, s.summary);
          assert.ok(acks[0]!.time - sentOks[0]!.time >= 3500, 'the ACK came late');
          assert.deepEqual(headerValues(acks[0]!.text, 'Route'), [], 'olelo removed its Route');
          const inv = requests(s, 'INVITE').find((m) => callId(m) === id)!;
          assert.notEqual(topBranch(acks[0]!), topBranch(inv), 'the 2xx ACK is a transaction of its own');
        }
        const st = stats(server);
        assert.equal(st['core.fwd_requests'], N, `the ACKs, statelessly: ${JSON.stringify(st)}`);
      }),
  );
});
