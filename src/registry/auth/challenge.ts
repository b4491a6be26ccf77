// RFC 7235 §4.1 WWW-Authenticate:  challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ],
// auth-param = token BWS "=" BWS ( token / quoted-string ). Several challenges may share one header,
// separated by commas, which also separate params; a token followed by "=" is a param, otherwise a new scheme.

export type Challenge = {
  readonly scheme: string; // lower-cased: "basic", "bearer"
  readonly params: Readonly<Record<string, string>>; // names lower-cased, values unquoted
  readonly token68?: string;
};

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}
  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(): string {
    return this.text[this.pos] ?? '';
  }
  skip(re: RegExp): void {
    while (!this.done && re.test(this.peek())) this.pos++;
  }
  take(re: RegExp): string {
    const start = this.pos;
    this.skip(re);
    return this.text.slice(start, this.pos);
  }
  // The next non-space character at or after `from`.
  lookahead(from: number): string {
    let i = from;
    while (this.text[i] === ' ' || this.text[i] === '\t') i++;
    return this.text[i] ?? '';
  }
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; the scanner sits on the opening quote.
function readQuoted(s: Scanner): string {
  let out = '';
  s.pos++;
  while (!s.done && s.peek() !== '"') {
    if (s.peek() === '\\') s.pos++;
    out += s.peek();
    s.pos++;
  }
  s.pos++;
  return out;
}

// After a scheme: true when the next item is `name=` (an auth-param) rather than a token68 or a new scheme.
function atParam(s: Scanner): boolean {
  let i = s.pos;
  while (i < s.text.length && TOKEN_CHAR.test(s.text[i] as string)) i++;
  if (i === s.pos || s.lookahead(i) !== '=') return false;
  let j = i;
  while (s.text[j] === ' ' || s.text[j] === '\t') j++;
  const after = s.lookahead(j + 1);
  return after !== '' && after !== ',' && after !== '=';
}

function readParams(s: Scanner): Record<string, string> {
  const params: Record<string, string> = {};
  for (;;) {
    s.skip(/[\s,]/);
    if (s.done || !atParam(s)) return params;
    const name = s.take(TOKEN_CHAR).toLowerCase();
    s.skip(/[ \t]/);
    s.pos++; // "="
    s.skip(/[ \t]/);
    params[name] = s.peek() === '"' ? readQuoted(s) : s.take(TOKEN_CHAR);
  }
}

function readChallenge(s: Scanner): Challenge | undefined {
  const scheme = s.take(TOKEN_CHAR).toLowerCase();
  if (scheme === '') {
    s.pos++; // not a token: skip the character and move on
    return undefined;
  }
  s.skip(/[ \t]/);
  if (!s.done && s.peek() !== ',' && !atParam(s) && TOKEN68_CHAR.test(s.peek())) {
    const token68 = s.take(TOKEN68_CHAR) + s.take(/=/);
    return { scheme, params: {}, token68 };
  }
  return { scheme, params: readParams(s) };
}

// Parse every challenge in a WWW-Authenticate value (several headers joined by ", " parse the same way).
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const s = new Scanner(header);
  const out: Challenge[] = [];
  while (!s.done) {
    s.skip(/[\s,]/);
    if (s.done) break;
    const c = readChallenge(s);
    if (c) out.push(c);
  }
  return out;
}
