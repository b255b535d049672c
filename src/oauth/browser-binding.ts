import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Binds a consent flow to the browser that started it: a random secret in an httpOnly cookie,
 * its hash on the flow. The issuer's redirect back is accepted only from a browser that shows the
 * cookie, so a code and state lifted from one browser cannot be replayed from another (and a
 * victim cannot be made to finish an attacker's consent).
 */
export interface BrowserBinding {
  /** The cookie's name: one per flow, so consents in two tabs do not overwrite each other. */
  cookieName: string;
  /** The cookie's value (a secret: never logged, never stored in clear). */
  value: string;
  /** What the flow stores. */
  hash: string;
}

/**
 * Where Custody is reached: the cookie is scoped to it. Over https the cookie is `__Host-`
 * prefixed (Secure, path /, no domain), so a sibling host cannot plant one; over plain http
 * (development) it is scoped to the callback's path under the public URL.
 */
export interface CookieScope {
  secure: boolean;
  /** The public URL's path ('' at the root): `/custody` for https://platform.example.com/custody. */
  basePath: string;
}

export function cookieScopeOf(publicUrl: string): CookieScope {
  const url = new URL(publicUrl);
  return { secure: url.protocol === 'https:', basePath: url.pathname.replace(/\/+$/, '') };
}

export function newBrowserBinding(flowId: string, scope: CookieScope): BrowserBinding {
  const value = randomBytes(32).toString('base64url');
  return { cookieName: bindingCookieName(flowId, scope), value, hash: hashOf(value) };
}

export function bindingCookieName(flowId: string, scope: CookieScope): string {
  return `${scope.secure ? '__Host-' : ''}custody_consent_${flowId}`;
}

function cookieAttributes(scope: CookieScope): string {
  return scope.secure ? 'Path=/; HttpOnly; SameSite=Lax; Secure' : `Path=${scope.basePath}/oauth/callback; HttpOnly; SameSite=Lax`;
}

function hashOf(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Whether the cookie the browser sent matches the flow's binding (constant time). */
export function bindingMatches(storedHash: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(hashOf(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `Set-Cookie` for the binding: httpOnly, Lax (the issuer's redirect back is a top-level GET). */
export function bindingSetCookie(binding: Pick<BrowserBinding, 'cookieName' | 'value'>, scope: CookieScope, maxAgeSeconds: number): string {
  return `${binding.cookieName}=${binding.value}; Max-Age=${maxAgeSeconds}; ${cookieAttributes(scope)}`;
}

/** `Set-Cookie` that removes the binding once the callback has used it. */
export function bindingClearCookie(flowId: string, scope: CookieScope): string {
  return `${bindingCookieName(flowId, scope)}=; Max-Age=0; ${cookieAttributes(scope)}`;
}

/** The cookies of a request's Cookie header, by name (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}
