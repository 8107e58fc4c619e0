/**
 * The storage suite on a real PostgreSQL server (Debian's), started for this file on loopback.
 */
import { type DbServer, startPostgres } from '../helpers/db-servers.js';
import { storageSuite } from './storage-suite.js';

let server: DbServer | undefined;

storageSuite('PostgreSQL', {
  dialect: 'postgres',
  async start() {
    server = await startPostgres();
  },
  async stop() {
    await server?.stop();
  },
  freshUrl: () => server!.createDatabase(),
  sql: (url, ...statements) => server!.sql(new URL(url).pathname.slice(1), ...statements),
  // the server's own port after it stopped is not reusable here; port 1 refuses on loopback
  unreachableUrl: () => Promise.resolve(server!.url('olelo').replace(`:${server!.port}/`, ':1/')),
});
