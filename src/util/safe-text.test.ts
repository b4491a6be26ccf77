import { describe, expect, it } from 'vitest';
import { cutText, quoteValue, safeLines, safeText, someOf } from './safe-text.js';

describe('safeText / safeLines', () => {
  it.each([
    ['\u001b]0;pwned\u0007', '\\u001b]0;pwned\\u0007'],
    ['\u001b[2J', '\\u001b[2J'],
    ['a\r\nok: fine', 'a\\u000d\\u000aok: fine'],
    ['tab\there', 'tab\\u0009here'],
    ['del\u007f c1\u0085\u009b', 'del\\u007f c1\\u0085\\u009b'],
    ['plain ü ✓ 中文 \\x1b', 'plain ü ✓ 中文 \\x1b'],
  ])('safeText(%j)', (input, want) => {
    expect(safeText(input)).toBe(want);
  });

  it('safeLines keeps the layout (newline, tab) and escapes the rest', () => {
    expect(safeLines('one\ttwo\nthree\r\u001b[2K\n')).toBe('one\ttwo\nthree\\u000d\\u001b[2K\n');
  });

  it('the escape is also JSON and YAML: escaping JSON output keeps its meaning', () => {
    const line = JSON.stringify({ m: 'x\u009by\u007f' }); // JSON.stringify leaves DEL and C1 raw
    expect(JSON.parse(safeLines(line))).toEqual({ m: 'x\u009by\u007f' });
  });

  it.each([
    ['sha256:ab', '"sha256:ab"'],
    ['\u001b]0;x\u0007\u009b', '"\\u001b]0;x\\u0007\\u009b"'],
    [undefined, 'missing'],
    [null, 'null'],
    [7, '7'],
    [[1], 'a list'],
    [{ a: 1 }, 'an object'],
  ])('quoteValue(%j)', (value, want) => {
    expect(quoteValue(value)).toBe(want);
  });

  it('quoteValue cuts a long string and says how long it was', () => {
    const q = quoteValue(`\u001b${'x'.repeat(1_000_000)}`, 10);
    expect(q).toBe(`"\\u001bxxxxxxxxx"… (1000001 characters)`);
  });

  it('quoteValue never splits a surrogate pair at the cut', () => {
    expect(quoteValue(`${'x'.repeat(9)}😀tail`, 10)).toBe('"xxxxxxxxx"… (15 characters)');
  });

  it('cutText: the same cut and escape without quotes', () => {
    expect(cutText('v1.28.0')).toBe('v1.28.0');
    expect(cutText(`\u001b${'x'.repeat(1_000_000)}`, 10)).toBe('\\u001bxxxxxxxxx… (1000001 characters)');
    expect(cutText('a\r\nb\u009b')).toBe('a\\u000d\\u000ab\\u009b');
  });

  it('someOf names the first few and counts the rest', () => {
    expect(someOf(['a', 'b'], 3, (s) => s.toUpperCase())).toBe('A, B');
    expect(someOf(['a', 'b', 'c', 'd'], 2, (s) => s, '; ')).toBe('a; b; and 2 more');
  });
});
