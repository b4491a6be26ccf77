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
