/**
 * Stateless proxy vs Kamailio (scripts/stateless.ts vs bench/stateless/kamailio.cfg): the runner is
 * bench/lib/proxy-bench.ts; options: `node dist/bench/stateless/run.js --help`.
 */
process.argv.splice(2, 0, '--mode', 'stateless');
await import('../lib/proxy-bench.js');
