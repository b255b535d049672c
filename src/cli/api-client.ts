import { pathWith, type BodyOf, type Endpoint, type ParamsOf, type QueryOf, type ResponseOf } from '../contract/endpoint.ts';
import { CliError, EXIT, exitCodeForStatus } from './errors.ts';

export interface ApiClientOptions {
  url?: string;
  apiKey?: string;
}

/** Where the server is: --url, else CUSTODY_URL, else CUSTODY_HOST and CUSTODY_PORT (as `serve` reads them), else 127.0.0.1:7420. */
export function serverUrl(url?: string): string {
  const explicit = url ?? process.env.CUSTODY_URL;
  let base: string;
  let from: string;
  if (explicit) {
    base = explicit.replace(/\/+$/, '');
    from = url ? '--url' : 'CUSTODY_URL';
  } else {
    const host = process.env.CUSTODY_HOST?.trim() || '127.0.0.1';
    const port = process.env.CUSTODY_PORT?.trim() || '7420';
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new CliError(`CUSTODY_PORT must be a port number (got "${port}")`, EXIT.usage);
    // A server listening on every interface is reached on loopback from here.
    const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    base = `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
    from = 'CUSTODY_HOST/CUSTODY_PORT';
  }
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new CliError(`${from} must be a URL such as http://127.0.0.1:7420 (got "${base}")`, EXIT.usage);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`${from} must be an http(s) URL such as http://127.0.0.1:7420 (got "${base}")`, EXIT.usage);
  // The API key is the credential; a URL carrying another would end up in messages and shell history.
  if (parsed.username || parsed.password) throw new CliError(`${from} must not contain a user name or password: Custody takes an API key (--api-key or CUSTODY_API_KEY).`, EXIT.usage);
  return base;
}

type Input<E extends Endpoint> = (ParamsOf<E> extends undefined ? { params?: undefined } : { params: ParamsOf<E> }) &
  (QueryOf<E> extends undefined ? { query?: undefined } : { query?: QueryOf<E> }) &
  (BodyOf<E> extends undefined ? { body?: undefined } : { body: BodyOf<E> });

/**
 * The CLI's view of a server's API: each call names an endpoint of the contract (the same
 * declaration the server mounts and documents), so the CLI cannot drift from the API. Errors
 * become CliErrors carrying the server's code and the matching exit code.
 */
export function apiClient(options: ApiClientOptions) {
  const base = serverUrl(options.url);
  const key = options.apiKey ?? process.env.CUSTODY_API_KEY;

  return async function call<E extends Endpoint>(endpoint: E, input: Input<E> = {} as Input<E>): Promise<ResponseOf<E>> {
    if (endpoint.permission && !key) {
      throw new CliError('No API key: set CUSTODY_API_KEY or pass --api-key (`npm start` prints a first admin key on first run).', EXIT.refused, 'unauthenticated');
    }
    let path = pathWith(endpoint.path, input.params as Record<string, string> | undefined);
    const query = input.query as Record<string, string | undefined> | undefined;
    if (query) {
      const search = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) search.set(k, v);
      if ([...search].length > 0) path += `?${search}`;
    }
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method: endpoint.method,
        redirect: 'manual',
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(input.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(input.body !== undefined ? { body: JSON.stringify(input.body) } : {}),
      });
    } catch (err) {
      const reason = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new CliError(`Cannot reach Custody at ${base}: ${reason}. Is it running? (set --url, CUSTODY_URL, or CUSTODY_HOST/CUSTODY_PORT)`, EXIT.unreachable, 'unreachable');
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(`${endpoint.method} ${path} answered ${response.status} with something that is not JSON: is ${base} a Custody server?`, EXIT.error, 'bad_response');
    }
    if (response.status !== endpoint.status && !response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError(error?.message ?? `${endpoint.method} ${path} answered ${response.status} ${response.statusText}`, exitCodeForStatus(response.status), error?.code ?? `http_${response.status}`);
    }
    return parsed as ResponseOf<E>;
  };
}

export type ApiCall = ReturnType<typeof apiClient>;
