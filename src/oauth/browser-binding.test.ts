import { describe, expect, it } from 'vitest';
import { bindingClearCookie, bindingCookieName, bindingMatches, bindingSetCookie, cookieScopeOf, newBrowserBinding, parseCookies } from './browser-binding.ts';

describe('the browser binding of a consent', () => {
  it('scopes the cookie to the callback under the public URL’s path over plain http', () => {
    const scope = cookieScopeOf('http://127.0.0.1:7420/custody/');
    expect(scope).toEqual({ secure: false, basePath: '/custody' });
    const b = newBrowserBinding('flw_X', scope);
    expect(bindingSetCookie(b, scope, 600)).toBe(`custody_consent_flw_X=${b.value}; Max-Age=600; Path=/custody/oauth/callback; HttpOnly; SameSite=Lax`);
    expect(bindingClearCookie('flw_X', scope)).toBe('custody_consent_flw_X=; Max-Age=0; Path=/custody/oauth/callback; HttpOnly; SameSite=Lax');
  });

  it('uses a __Host- cookie over https, which a sibling host cannot plant', () => {
    const scope = cookieScopeOf('https://platform.example.com/custody');
    const b = newBrowserBinding('flw_X', scope);
    expect(b.cookieName).toBe('__Host-custody_consent_flw_X');
    expect(bindingSetCookie(b, scope, 600)).toBe(`__Host-custody_consent_flw_X=${b.value}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax; Secure`);
    expect(bindingCookieName('flw_X', scope)).toBe(b.cookieName);
  });

  it('matches only the cookie it made, and keeps only its hash', () => {
    const b = newBrowserBinding('flw_X', cookieScopeOf('http://127.0.0.1:7420'));
    expect(b.hash).not.toContain(b.value);
    expect(bindingMatches(b.hash, b.value)).toBe(true);
    expect(bindingMatches(b.hash, `${b.value}x`)).toBe(false);
    expect(bindingMatches(b.hash, undefined)).toBe(false);
    expect(bindingMatches(b.hash, '')).toBe(false);
  });

  it('reads the first of a repeated cookie name, so a planted duplicate after it changes nothing', () => {
    expect(parseCookies('a=1; b=2; a=3').get('a')).toBe('1');
    expect(parseCookies(undefined).size).toBe(0);
    expect(parseCookies('=x; noequals; c=').get('c')).toBe('');
  });
});
