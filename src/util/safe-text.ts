// Text from outside (registry error bodies, archive entry names, file contents) is data: printed as is, a
// control character could set the terminal title (ESC ] 0 ; … BEL), clear the screen (ESC [ 2 J) or, with
// CR/LF, forge an "ok" line. Every C0 control, DEL and C1 control is shown as a visible \u00XX escape
// instead. That form is also a valid JSON and YAML (double-quoted) escape for the same character, so escaping
// a line of JSON or YAML output never changes what it means.

const escapeOne = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

// One data field (a name, a message from a server): every control character escaped, newlines included.
export function safeText(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, escapeOne);
}

// Whole output lines the CLI writes: the same, but the line breaks and tabs of the CLI's own layout stay.
export function safeLines(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, escapeOne);
}

// True when a value holds a control character (C0, DEL or C1): never valid in a path or name we write out.
export function hasControl(text: string): boolean {
  return safeText(text) !== text;
}

// The first `max` characters of a long text, a surrogate pair never split; undefined when it is not longer.
function head(text: string, max: number): string | undefined {
  if (text.length <= max) return undefined;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

// An untrusted value named in an error message (a digest field, an annotation): strings quoted as JSON, cut to
// `max` characters (the length said), control characters escaped; other values by their kind, never expanded.
// A hostile manifest cannot make an error line megabytes long or drive the terminal.
export function quoteValue(value: unknown, max = 80): string {
  if (typeof value === 'string') {
    const cut = head(value, max);
    return safeText(cut === undefined ? JSON.stringify(value) : `${JSON.stringify(cut)}… (${value.length} characters)`);
  }
  if (value === undefined) return 'missing';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

// The first `max` items of a list from outside, each shown by `show` (quoteValue, cutText), then "and N more": a
// document of ten thousand unknown keys or error entries is named by a few of them.
export function someOf<T>(items: readonly T[], max: number, show: (item: T) => string, sep = ', '): string {
  const shown = items.slice(0, max).map(show);
  if (items.length > max) shown.push(`and ${items.length - max} more`);
  return shown.join(sep);
}

// The same cut and escape without the quotes, for a value that sits in prose as a word (a version, a path in a
// log line): "Kubernetes v1.28.0 is not supported" reads as before, a megabyte of YAML does not come back.
export function cutText(text: string, max = 80): string {
  const cut = head(text, max);
  return safeText(cut === undefined ? text : `${cut}… (${text.length} characters)`);
}
