/**
 * The one error type of the storage layer. Messages name the database by its URL without the password.
 */

/** Why a storage call failed. */
export type StorageErrorCode =
  /** The URL is not one olelo can use. */
  | 'bad-url'
  /** The driver's package could not be loaded (missing, or a native addon built for another Node). */
  | 'driver'
  /** The database could not be opened or reached (refused, unknown host, authentication, permissions). */
  | 'connect'
  /** A table is older than olelo needs, or a migration failed. */
  | 'schema'
  /** The row exists already (account, domain, alias). */
  | 'exists'
  /** A unique constraint refused the write (the store turns it into `exists` where it knows the row). */
  | 'conflict'
  /** Any other failure of a statement. */
  | 'query';

/** A storage failure; `cause` holds the driver's own error when there is one. */
export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The message of anything thrown. */
export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    // node's net layer reports each address it tried (ECONNREFUSED on ::1 and 127.0.0.1)
    return [...new Set(error.errors.map(errorText))].join('; ');
  }
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}
