import { CliError } from './context.ts';

export interface ApiClientOptions {
  url?: string;
  apiKey?: string;
}

/**
 * The CLI's view of a server's API. Requests and responses follow the same schemas the server
 * validates with (see the *.schemas.ts files), so the CLI cannot drift from the contract.
 */
export function apiClient(options: ApiClientOptions) {
  const base = (options.url ?? process.env.CUSTODY_URL ?? 'http://127.0.0.1:7420').replace(/\/+$/, '');
  const key = options.apiKey ?? process.env.CUSTODY_API_KEY;

  return async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!key) throw new CliError('No API key: set CUSTODY_API_KEY or pass --api-key (npm start prints a first admin key on first run).');
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new CliError(`Cannot reach Custody at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}. Is it running? (set --url or CUSTODY_URL)`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(`${method} ${path} answered ${response.status} with something that is not JSON.`);
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError(`${error?.code ?? `http_${response.status}`}: ${error?.message ?? response.statusText}`);
    }
    return parsed as T;
  };
}
