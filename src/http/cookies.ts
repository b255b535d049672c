/**
 * Cookies, as far as the console's session needs them: reading one by name from a request's
 * Cookie header, and writing the session cookie (httpOnly, SameSite=Strict, Path=/, Secure when
 * the public URL is https; the caller names it, `__Host-` prefixed over https).
 */
/**
 * What `readCookie` answers when the name comes more than once. A browser sends every cookie of that
 * name whose domain and path match, so a second one may have been planted by a sibling site on a
 * parent domain (cookie tossing, over http where the `__Host-` prefix is not available): neither is
 * taken. It matches no secret's form, so it authenticates nothing.
 */
export const AMBIGUOUS_COOKIE = '\u0000ambiguous';

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  let found: string | null = null;
  let seen = 0;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    seen++;
    const value = part.slice(eq + 1).trim();
    if (value !== '') found = value;
  }
  if (seen > 1) return AMBIGUOUS_COOKIE;
  return found;
}

export function sessionCookie(name: string, value: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${options.maxAgeSeconds}`, ...(options.secure ? ['Secure'] : [])].join('; ');
}

export function clearedCookie(name: string, options: { secure: boolean }): string {
  return sessionCookie(name, '', { maxAgeSeconds: 0, secure: options.secure });
}
