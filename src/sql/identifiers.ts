/**
 * SQL identifiers written into statement text. A bound parameter carries a value, never a name, so
 * the names in SQL printed for an operator to run (`ALTER ROLE "…" SET …`) and in SQLite's PRAGMAs
 * (`PRAGMA table_info("…")`) go into the text itself, quoted.
 */

/** `name` as a double-quoted identifier (PostgreSQL and SQLite alike): a `"` inside it doubled. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
