import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { KkoError } from '../errors.js';
import { fsError } from '../util/fs-errors.js';

// Basic auth against an htpasswd file with bcrypt entries, as `htpasswd -B` writes them ($2y$, $2a$, $2b$), the
// only scheme the distribution registry accepts too. bcrypt is slow on purpose (about 50–100 ms per check in
// JS at cost 10), and a pull sends credentials on every request, so a check that passed is remembered for the
// process by a SHA-256 of the credentials (never the password itself).
export class Htpasswd {
  readonly #users: ReadonlyMap<string, string>;
  readonly #passed = new Set<string>();

  private constructor(users: ReadonlyMap<string, string>) {
    this.#users = users;
  }

  static async load(path: string): Promise<Htpasswd> {
    const text = await readFile(path, 'utf8').catch((err: unknown) =>
      Promise.reject(fsError('reading htpasswd file', path, err)),
    );
    const users = new Map<string, string>();
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const hash = line.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new KkoError('INVALID_INPUT', `reading htpasswd file ${path}: line ${i + 1} is not user:<bcrypt hash>`, {
          hint: 'write it with htpasswd -B (bcrypt), e.g. htpasswd -Bbc FILE USER PASSWORD',
        });
      }
      users.set(line.slice(0, colon), hash);
    }
    if (users.size === 0)
      throw new KkoError('INVALID_INPUT', `reading htpasswd file ${path}: no users`, {
        hint: 'htpasswd -Bbc FILE USER PASSWORD',
      });
    return new Htpasswd(users);
  }

  // True when an Authorization header carries Basic credentials of a user in the file.
  async check(header: string | undefined): Promise<boolean> {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? '');
    if (!m) return false;
    const creds = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = creds.indexOf(':');
    if (colon <= 0) return false;
    const key = createHash('sha256').update(creds).digest('hex');
    if (this.#passed.has(key)) return true;
    const hash = this.#users.get(creds.slice(0, colon));
    // An unknown user still costs a bcrypt round, so timing does not tell which users exist.
    const ok = await bcrypt.compare(creds.slice(colon + 1), hash ?? DUMMY_HASH);
    if (ok && hash) {
      if (this.#passed.size > 1000) this.#passed.clear();
      this.#passed.add(key);
      return true;
    }
    return false;
  }
}

const DUMMY_HASH = '$2y$10$abcdefghijklmnopqrstuu5Qf0g9dJ2bYl6tW8aQwq8jJjJ0d8yK6';
