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
