/**
 * olelo's schema migrations, in order. Each is applied once per database and recorded in
 * `olelo_migrations`; every step is idempotent, so a run cut short can simply run again.
 *
 * Rules: never edit or renumber a migration that has shipped; add a new one. Kamailio's tables keep their
 * meaning: olelo adds nullable columns or its own tables (`olelo_*`), and never alters a column it did not
 * create. A table that exists already (a Kamailio database) is left as it is.
 */

import { addressTable } from '../address-store.js';
import { htableTable } from '../htable-store.js';
import {
  adminTable,
  aliasTable,
  type ColumnDef,
  dispatcherTable,
  domainAttrsTable,
  domainTable,
  locationAttrsTable,
  locationTable,
  subscriberTable,
  type TableDef,
  versionTable,
} from '../schema.js';
import type { Dialect } from '../types.js';

/** One step of a migration. */
export type MigrationStep =
  /** Create the table with its indexes when it is missing, and record its Kamailio version in `version`. */
  | { readonly kind: 'table'; readonly table: TableDef }
  /** Add the column when the table lacks it. */
  | { readonly kind: 'column'; readonly table: string; readonly column: ColumnDef }
  /** Statements for the dialects that need them (each must be safe to run twice). */
  | { readonly kind: 'sql'; readonly statements: Partial<Readonly<Record<Dialect, readonly string[]>>> };

/** A numbered migration. */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly steps: readonly MigrationStep[];
}

export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'kamailio tables: version, subscriber, domain, dbaliases, location',
    steps: [versionTable, subscriberTable, domainTable, aliasTable, locationTable].map((table) => ({
      kind: 'table' as const,
      table,
    })),
  },
  {
    id: 2,
    name: 'subscriber: email_address and datetime_created',
    steps: [
      // Kamailio 4.x had email_address (NOT NULL DEFAULT ''); 5.x dropped it. Added back nullable when missing.
      {
        kind: 'column',
        table: 'subscriber',
        column: {
          name: 'email_address',
          type: { kind: 'string', length: 128 },
          nullable: true,
          default: null,
        },
      },
      {
        kind: 'column',
        table: 'subscriber',
        column: { name: 'datetime_created', type: { kind: 'datetime' }, nullable: true, default: null },
      },
    ],
  },
  {
    id: 3,
    // Kamailio's domain and usrloc modules check these tables' versions at start, so a database olelo
    // created must have them for Kamailio to share it
    name: 'kamailio tables: domain_attrs, location_attrs',
    steps: [domainAttrsTable, locationAttrsTable].map((table) => ({ kind: 'table' as const, table })),
  },
  {
    id: 4,
    // the dispatcher module's destinations (its `source: db`); a Kamailio table already there is kept
    name: 'kamailio table: dispatcher',
    steps: [{ kind: 'table', table: dispatcherTable }],
  },
  {
    id: 5,
    // the web dashboard's administrators (olelo admin add)
    name: 'olelo table: olelo_admin',
    steps: [{ kind: 'table', table: adminTable }],
  },
  {
    id: 6,
    // the htable module's persistent tables (persist: true)
    name: 'olelo table: olelo_htable',
    steps: [{ kind: 'table', table: htableTable }],
  },
  {
    id: 7,
    // the permissions module's trusted addresses (its addressDb); a Kamailio table already there is kept
    name: 'kamailio table: address',
    steps: [{ kind: 'table', table: addressTable }],
  },
];
