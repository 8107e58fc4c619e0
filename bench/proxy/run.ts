/**
 * Transaction-stateful proxy vs Kamailio (bench/proxy/olelo.ts vs bench/proxy/kamailio.cfg: record-route,
 * t_relay): the highest call rate with zero failed calls over 20,000 calls per rate, and server CPU per
 * call, side by side in one run. The runner is bench/lib/proxy-bench.ts; options:
 * `node dist/bench/proxy/run.js --help`.
 */
process.argv.splice(2, 0, '--mode', 'stateful');
await import('../lib/proxy-bench.js');
