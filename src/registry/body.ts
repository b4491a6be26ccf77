import { redactUrl, RegistryError } from './errors.js';
import { discardBody, networkError, type HttpResponse } from './http.js';

// Read a whole response body, refusing more than `max` bytes (SIZE_LIMIT_EXCEEDED) before or while reading.
export async function readLimited(res: HttpResponse, max: number, what: string, method = 'GET'): Promise<Buffer> {
  const tooBig = (n: string): RegistryError =>
    new RegistryError(
      'SIZE_LIMIT_EXCEEDED',
      `${what}: ${method} ${redactUrl(res.url)}: body is ${n} bytes, limit ${max}`,
      {
        status: res.status,
        method,
        url: res.url,
      },
    );
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > max) {
    await discardBody(res);
    throw tooBig(String(declared));
  }
  if (res.body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      total += r.value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => undefined);
        throw tooBig(`more than ${max}`);
      }
      chunks.push(r.value);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw networkError(what, method, res.url, err, true);
  }
  return Buffer.concat(chunks, total);
}

// Best-effort text of an error response (bounded; a failure to read yields "").
export async function readErrorText(res: HttpResponse): Promise<string> {
  try {
    return (await readLimited(res, 64 * 1024, 'reading error body')).toString('utf8');
  } catch {
    return '';
  }
}
