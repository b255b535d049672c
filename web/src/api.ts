import type { BodyOf, Endpoint, ParamsOf, QueryOf, ResponseOf } from '../../src/contract/endpoint.ts';
import { CSRF_HEADER } from '../../src/sessions/session.contract.ts';

/**
 * The console's client of the API: each call names an endpoint of the contract (the declarations
 * the server mounts and the CLI calls). The session cookie is httpOnly and sent by the browser;
 * the CSRF token lives in memory only (never in storage) and goes with every state-changing call.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
const signedOutListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the server says the session is gone (401): the console shows the sign-in page. */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

type Input<E> = (ParamsOf<E> extends undefined ? { params?: undefined } : { params: ParamsOf<E> }) &
  (QueryOf<E> extends undefined ? { query?: undefined } : { query?: QueryOf<E> }) &
  (BodyOf<E> extends undefined ? { body?: undefined } : { body: BodyOf<E> });

export function pathOf(template: string, params: Record<string, string> | undefined): string {
  return template.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params?.[name] ?? ''));
}

export function queryString(query: Record<string, string | undefined> | undefined): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') search.set(k, v);
  const s = search.toString();
  return s ? `?${s}` : '';
}

export async function call<E extends Endpoint>(endpoint: E, input: Input<E> = {} as Input<E>): Promise<ResponseOf<E>> {
  const path = pathOf(endpoint.path, input.params as Record<string, string> | undefined) + queryString(input.query as Record<string, string | undefined> | undefined);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (input.body !== undefined) headers['content-type'] = 'application/json';
  if (endpoint.method !== 'GET' && csrfToken) headers[CSRF_HEADER] = csrfToken;
  const response = await fetch(path, {
    method: endpoint.method,
    credentials: 'same-origin',
    headers,
    ...(input.body !== undefined ? { body: JSON.stringify(input.body) } : {}),
  });
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(response.status, 'bad_response', `${endpoint.method} ${path} answered ${response.status} with something that is not JSON.`);
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; details?: { path: string; message: string }[] } } | undefined)?.error;
    if (response.status === 401 && endpoint.permission) for (const l of signedOutListeners) l();
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? `${endpoint.method} ${path} answered ${response.status}.`, error?.details ?? []);
  }
  return parsed as ResponseOf<E>;
}
