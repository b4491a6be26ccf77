// Secrets that can ride in a URL: userinfo ("alice:s3cret@") and the query string (pre-signed signatures,
// upload _state tokens). Both are removed before a URL reaches a message, a log line or a terminal.

// The URL safe to print: no userinfo, and the query string replaced by "?…". Takes a URL, not a sentence:
// for free text use redactText.
export function redactUrl(input: string | URL): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return String(input)
      .replace(/\/\/[^/@]*@/, '//')
      .replace(/\?.*$/, '?…');
  }
  const query = url.search ? '?…' : '';
  return `${url.protocol}//${url.host}${url.pathname}${query}`;
}

// A "scheme://…" token in free text: up to whitespace or a quote/bracket that cannot be part of it.
const URL_TOKEN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
// Punctuation that ends a sentence or clause after a URL ("GET http://h/x: HTTP 500", "(see http://h/x).").
const TRAILING = /[.,;:!?)\]}]+$/;

// Redact every URL inside a message, leaving all other text exactly as it is ("ENOTDIR: …" stays as it is,
// and so does the text after a "?" that is not in a URL). Userinfo becomes "***@" (so the reader sees that
// credentials were given), a query string "?…". The URL itself is not re-serialised.
export function redactText(text: string): string {
  return text.replace(URL_TOKEN, (token) => {
    const tail = TRAILING.exec(token)?.[0] ?? '';
    const url = token.slice(0, token.length - tail.length);
    const redacted = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1***@').replace(/\?.*$/, '?…');
    return redacted + tail;
  });
}
