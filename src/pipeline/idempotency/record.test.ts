import { describe, expect, it } from 'vitest';
import { doneRecordText, parseRecord, pendingRecordText, type DoneRecord, type PendingRecord } from './record.js';

describe('doneRecordText', () => {
  it('is the text JSON.stringify gives for the record, and reads back', () => {
    const records: DoneRecord[] = [
      { s: 'done', fp: 'abc_-', html: '<p class="x">−\n"q"</p>', state: { count: 3, list: [1, 'a'] }, created_at: '2026-01-15T10:30:00Z', exp: 1768473000123 },
      { s: 'done', fp: '', html: '', state: {}, created_at: '', exp: 0 },
      { s: 'done', fp: 'f', html: 'h', state: { skipped: undefined }, created_at: 'c', exp: Number.NaN },
    ];
    for (const record of records) {
      const text = doneRecordText(record);
      expect(text).toBe(JSON.stringify(record));
      if (Number.isFinite(record.exp)) expect(parseRecord(text)).toEqual(JSON.parse(JSON.stringify(record)));
    }
  });
});

describe('pendingRecordText', () => {
  it('is the text JSON.stringify gives for the record, and reads back', () => {
    const records: PendingRecord[] = [
      { s: 'pending', fp: 'abc_-', lock: 'Zm9vYmFyYmF6cXV4MTIzNA', exp: 1768473000123 },
      { s: 'pending', fp: '', lock: '', exp: 0 },
      { s: 'pending', fp: 'a"b\\c\u2028', lock: '−', exp: 1.5 },
      { s: 'pending', fp: 'f', lock: 'l', exp: Number.NaN },
    ];
    for (const record of records) {
      const text = pendingRecordText(record.fp, record.lock, record.exp);
      expect(text).toBe(JSON.stringify(record));
      if (Number.isFinite(record.exp)) expect(parseRecord(text)).toEqual(record);
    }
  });
});
