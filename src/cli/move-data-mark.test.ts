/**
 * The relational target a `move-data` mark records (relationalTarget): what tells one PostgreSQL
 * target from another — host, database, and the schema (search_path in `options`), not the user —
 * and never a password, however the URL carries it.
 */
import { describe, expect, it } from 'vitest';
import { relationalTarget } from './move-data-mark.js';

describe('relationalTarget', () => {
  it('names the schema a search_path picks; two schemas of one database differ', () => {
    const a = relationalTarget('postgres://app:s3cret@db.internal:5432/prod?options=-c%20search_path%3Dtenant_a');
    const b = relationalTarget('postgres://app:s3cret@db.internal:5432/prod?options=-c%20search_path%3Dtenant_b');
    expect(a).toBe('postgres://db.internal:5432/prod (search_path tenant_a)');
    expect(b).not.toBe(a);
    expect(relationalTarget('postgres://db/prod?options=--search_path%3Dx')).toBe('postgres://db/prod (search_path x)');
  });

  it('leaves the user out: the owner running the move and the app\'s own user reach the same tables', () => {
    expect(relationalTarget('postgres://owner:pw@db/prod')).toBe('postgres://db/prod');
    expect(relationalTarget('postgres://db/prod?user=app&password=hunter2')).toBe(relationalTarget('postgres://owner@db/prod'));
  });

  it('never carries a password', () => {
    for (const url of ['postgres://u:hunter2@db/prod', 'postgres://db/prod?password=hunter2&user=u', 'postgres://u:hunter2@db/prod?options=-c%20search_path%3Ds']) {
      expect(relationalTarget(url)).not.toContain('hunter2');
    }
  });
});
