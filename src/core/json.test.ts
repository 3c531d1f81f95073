import { describe, expect, it } from 'vitest';
import { jsonString, rememberJsonString } from './json.js';

describe('jsonString', () => {
  it('is JSON.stringify for any string, remembered or not', () => {
    const samples = ['', 'plain', 'quote " and \\ backslash', 'line\nbreak\ttab', 'minus − and emoji 😀', '\u2028\u2029', '\u0000\u001f', '\ud800 lone'];
    for (const s of samples) expect(jsonString(s)).toBe(JSON.stringify(s));
    for (const s of samples) expect(jsonString(s)).toBe(JSON.stringify(s)); // from the memo now
  });

  it('matches by value, so an equal string from elsewhere gets the same text', () => {
    const a = ['<div data-x="', 1, '">−</div>'].join('');
    const b = ['<div data-x="', 1, '">−</div>'].join('');
    expect(jsonString(a)).toBe(JSON.stringify(a));
    expect(jsonString(b)).toBe(JSON.stringify(b));
  });

  it('keeps answering correctly after more strings than it remembers', () => {
    for (let i = 0; i < 100; i++) {
      const s = `<p>${i}</p>`;
      expect(jsonString(s)).toBe(JSON.stringify(s));
    }
  });
});

describe('rememberJsonString', () => {
  it('is JSON.stringify, and jsonString then finds the text', () => {
    const html = ['<div data-x="', 2, '">−</div>'].join('');
    expect(rememberJsonString(html)).toBe(JSON.stringify(html));
    expect(jsonString(html)).toBe(JSON.stringify(html));
  });
});
