/**
 * The storage suite on a real MariaDB server (Debian's), started for this file on loopback.
 */
import { type DbServer, startMariadb } from '../helpers/db-servers.js';
import { storageSuite } from './storage-suite.js';

let server: DbServer | undefined;

storageSuite('MariaDB', {
  dialect: 'mysql',
  async start() {
    server = await startMariadb();
  },
  async stop() {
    await server?.stop();
  },
  freshUrl: () => server!.createDatabase(),
  sql: (url, ...statements) => server!.sql(new URL(url).pathname.slice(1), ...statements),
  unreachableUrl: () => Promise.resolve(server!.url('olelo').replace(`:${server!.port}/`, ':1/')),
});
