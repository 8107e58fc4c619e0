/**
 * A database as Kamailio 5.x tooling (kamdbctl) leaves it: the tables olelo shares, written here by hand
 * in each dialect (same names, types, defaults and version numbers as Kamailio's schema), with rows the
 * way kamctl and usrloc write them. The storage tests point olelo at it.
 */
import type { Dialect } from '../../src/db/types.js';

/** Statements creating Kamailio's tables (`subscriberVersion` 6 gives the 4.x subscriber with email_address and rpid). */
export function kamailioTables(dialect: Dialect, options: { subscriberVersion?: 6 | 7 } = {}): string[] {
  const v6 = options.subscriberVersion === 6;
  const mysql = dialect === 'mysql';
  const id = mysql
    ? 'id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY'
    : dialect === 'postgres'
      ? 'id SERIAL PRIMARY KEY'
      : 'id INTEGER PRIMARY KEY';
  const time = mysql ? 'DATETIME' : 'TIMESTAMP WITHOUT TIME ZONE';
  const real = mysql ? 'FLOAT(10,2)' : 'REAL';
  const uint = mysql ? 'INT UNSIGNED' : 'INTEGER';
  // index names: per table in MySQL, per schema elsewhere (Kamailio prefixes them with the table there)
  const ix = (table: string, name: string) => (mysql ? `${name}_idx` : `${table}_${name}_idx`);
  const partition = mysql ? '`partition`' : 'partition';
  return [
    `CREATE TABLE version (${id}, table_name VARCHAR(32) NOT NULL, table_version ${uint} NOT NULL DEFAULT 0,
      CONSTRAINT ${ix('version', 'table_name')} UNIQUE (table_name))`,
    `CREATE TABLE subscriber (${id}, username VARCHAR(64) NOT NULL DEFAULT '', domain VARCHAR(64) NOT NULL DEFAULT '',
      password VARCHAR(64) NOT NULL DEFAULT '',
      ${v6 ? "email_address VARCHAR(64) NOT NULL DEFAULT ''," : ''}
      ha1 VARCHAR(${v6 ? 64 : 128}) NOT NULL DEFAULT '', ha1b VARCHAR(${v6 ? 64 : 128}) NOT NULL DEFAULT ''
      ${v6 ? ', rpid VARCHAR(64) DEFAULT NULL' : ''},
      CONSTRAINT ${ix('subscriber', 'account')} UNIQUE (username, domain))`,
    `CREATE INDEX ${ix('subscriber', 'username')} ON subscriber (username)`,
    `CREATE TABLE domain (${id}, domain VARCHAR(64) NOT NULL, did VARCHAR(64) DEFAULT NULL,
      last_modified ${time} NOT NULL DEFAULT '2000-01-01 00:00:01', CONSTRAINT ${ix('domain', 'domain')} UNIQUE (domain))`,
    `CREATE TABLE dbaliases (${id}, alias_username VARCHAR(64) NOT NULL DEFAULT '',
      alias_domain VARCHAR(64) NOT NULL DEFAULT '', username VARCHAR(64) NOT NULL DEFAULT '',
      domain VARCHAR(64) NOT NULL DEFAULT '')`,
    `CREATE INDEX ${ix('dbaliases', 'alias')} ON dbaliases (alias_username, alias_domain)`,
    `CREATE TABLE location (${id}, ruid VARCHAR(64) NOT NULL DEFAULT '', username VARCHAR(64) NOT NULL DEFAULT '',
      domain VARCHAR(64) DEFAULT NULL, contact VARCHAR(512) NOT NULL DEFAULT '', received VARCHAR(128) DEFAULT NULL,
      path VARCHAR(512) DEFAULT NULL, expires ${time} NOT NULL DEFAULT '2030-05-28 21:32:15',
      q ${real} NOT NULL DEFAULT 1.0, callid VARCHAR(255) NOT NULL DEFAULT 'Default-Call-ID',
      cseq INTEGER NOT NULL DEFAULT 1, last_modified ${time} NOT NULL DEFAULT '2000-01-01 00:00:01',
      flags INTEGER NOT NULL DEFAULT 0, cflags INTEGER NOT NULL DEFAULT 0, user_agent VARCHAR(255) NOT NULL DEFAULT '',
      socket VARCHAR(64) DEFAULT NULL, methods INTEGER DEFAULT NULL, instance VARCHAR(255) DEFAULT NULL,
      reg_id INTEGER NOT NULL DEFAULT 0, server_id INTEGER NOT NULL DEFAULT 0, connection_id INTEGER NOT NULL DEFAULT 0,
      keepalive INTEGER NOT NULL DEFAULT 0, ${partition} INTEGER NOT NULL DEFAULT 0,
      CONSTRAINT ${ix('location', 'ruid')} UNIQUE (ruid))`,
    `CREATE INDEX ${ix('location', 'account_contact')} ON location (username, domain, contact)`,
    `CREATE TABLE domain_attrs (${id}, did VARCHAR(64) NOT NULL, name VARCHAR(32) NOT NULL, type ${uint} NOT NULL,
      value VARCHAR(255) NOT NULL, last_modified ${time} NOT NULL DEFAULT '2000-01-01 00:00:01')`,
    `CREATE TABLE location_attrs (${id}, ruid VARCHAR(64) NOT NULL DEFAULT '', username VARCHAR(64) NOT NULL DEFAULT '',
      domain VARCHAR(64) DEFAULT NULL, aname VARCHAR(64) NOT NULL DEFAULT '', atype INTEGER NOT NULL DEFAULT 0,
      avalue VARCHAR(512) NOT NULL DEFAULT '', last_modified ${time} NOT NULL DEFAULT '2000-01-01 00:00:01')`,
    `INSERT INTO version (table_name, table_version) VALUES ('version', 1), ('subscriber', ${v6 ? 6 : 7}),
      ('domain', 2), ('domain_attrs', 1), ('dbaliases', 1), ('location', 9), ('location_attrs', 1), ('acc', 5)`,
  ];
}

/**
 * A time as Kamailio's driver writes it: a Julian day (REAL) in SQLite, local `YYYY-MM-DD HH:MM:SS` text
 * elsewhere.
 */
export function kamailioTime(dialect: Dialect, unixSeconds: number): string {
  if (dialect === 'sqlite') return String((unixSeconds - 0.5) / 86400 + 2440587.5);
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `'${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}'`;
}

/**
 * Rows as kamctl (subscriber, domain, alias) and usrloc (location without domain, no q, written at
 * `lastModified` and expiring 60 s later) write them.
 */
export function kamailioRows(dialect: Dialect, ha1: string, ha1b: string, lastModified: number): string[] {
  return [
    `INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ('carol', 'kamailio.test', 'carolpw', '${ha1}', '${ha1b}')`,
    `INSERT INTO domain (domain, last_modified) VALUES ('kamailio.test', ${kamailioTime(dialect, lastModified)})`,
    `INSERT INTO dbaliases (alias_username, alias_domain, username, domain) VALUES ('1000', 'kamailio.test', 'carol', 'kamailio.test')`,
    `INSERT INTO location (ruid, username, domain, contact, expires, q, callid, cseq, last_modified, user_agent, methods, connection_id)
      VALUES ('uloc-1', 'carol', NULL, 'sip:carol@192.0.2.7:5060', ${kamailioTime(dialect, lastModified + 60)}, -1, 'call-1', 7,
      ${kamailioTime(dialect, lastModified)}, 'kamailio-ua', 8191, -1)`,
    `INSERT INTO location (ruid, username, domain, contact, expires, q, callid, cseq, last_modified, user_agent)
      VALUES ('uloc-2', 'carol', NULL, 'sip:carol@192.0.2.8:5060', ${kamailioTime(dialect, 0)}, 0.5, 'call-2', 1,
      ${kamailioTime(dialect, lastModified)}, 'permanent')`,
  ];
}
