// Quoted strings for the rendered files. A JSON string is a valid TOML basic string and YAML double-quoted
// scalar once DEL is escaped too (TOML v1.0.0 "Strings": U+007F must be escaped).
export function quote(value: string): string {
  return JSON.stringify(value).replace(/\x7f/g, '\\u007f');
}

export function quoteList(values: readonly string[]): string {
  return `[${values.map(quote).join(', ')}]`;
}

// The URL scheme nodes use for the local registry.
export function schemeOf(plainHTTP: boolean): 'http' | 'https' {
  return plainHTTP ? 'http' : 'https';
}

const isControl = (c: string): boolean => {
  const n = c.charCodeAt(0);
  return n < 0x20 || (n >= 0x7f && n <= 0x9f);
};

// True when a value holds C0/C1 control characters or DEL (never valid in a path written to node config).
export function hasControl(value: string): boolean {
  return [...value].some(isControl);
}

// A value safe to echo in a message: control characters shown as \uXXXX.
export function printable(value: string): string {
  return [...value].map((c) => (isControl(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('');
}
