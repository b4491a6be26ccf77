// undici (and the node:http, node:net… it loads: ~65 ms of start-up even bundled) is loaded by the first request
// or connection pool, not when the registry modules are: a command that contacts no host (a --dry-run, an offline
// validate) never loads it (#10).
let loaded: Promise<typeof import('undici')> | undefined;

export function undici(): Promise<typeof import('undici')> {
  return (loaded ??= import('undici'));
}
