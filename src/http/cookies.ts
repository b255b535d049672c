/**
 * Cookies, as far as the console's session needs them: reading one by name from a request's
 * Cookie header, and writing the session cookie (httpOnly, SameSite=Strict, Path=/, Secure when
 * the public URL is https; the caller names it, `__Host-` prefixed over https).
 */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value === '' ? null : value;
  }
  return null;
}

export function sessionCookie(name: string, value: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${options.maxAgeSeconds}`, ...(options.secure ? ['Secure'] : [])].join('; ');
}

export function clearedCookie(name: string, options: { secure: boolean }): string {
  return sessionCookie(name, '', { maxAgeSeconds: 0, secure: options.secure });
}
