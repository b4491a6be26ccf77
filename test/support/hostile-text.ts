import { expect } from 'vitest';

// Hostile values for error-message tests: a megabyte, and the escape sequences that retitle the terminal (ESC ] 0 ;
// … BEL), clear it (ESC [ 2 J) or forge a line (CR / LF), plus a C1 CSI that JSON.stringify leaves raw.
export const MB_TEXT = 'x'.repeat(1024 * 1024);
export const CONTROL_TEXT = 'ev\u001b]0;pwned\u0007\u001b[2J\r\nok: fine\u009b';

// A message fit to print: shorter than `max` and without a raw C0, DEL or C1 control character.
export function expectSafeText(text: string, max = 1000): void {
  expect(text.length).toBeLessThan(max);
  // eslint-disable-next-line no-control-regex -- the point: no raw control character in the text
  expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
}

// The message of what `fn` throws (sync or async), or 'ok'.
export async function messageOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return 'ok';
}
