/**
 * Dispatcher vs Kamailio: olelo's dispatcher (bench/dispatcher/olelo.ts) against Kamailio's
 * (bench/dispatcher/kamailio.cfg), round-robin over three SIPp UAS listed in one dispatcher.list both
 * read, record-route and stateful relay, with a failure route that moves to the next destination: the
 * highest call rate with zero failed calls over 20,000 calls per rate, and server CPU per call, side by
 * side in one run. The runner is bench/lib/proxy-bench.ts; options: `node dist/bench/dispatcher/run.js --help`.
 */
process.argv.splice(2, 0, '--mode', 'dispatcher');
await import('../lib/proxy-bench.js');
