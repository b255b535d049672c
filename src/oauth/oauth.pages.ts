import type { ConsentOutcome } from './oauth.types.ts';

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Custody — ${title}</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"></head>` +
    `<body style="font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em">` +
    `<h1>${title}</h1><p>${body}</p></body></html>`
  );
}

/** The page the customer administrator sees at the end of a consent, success or not. */
export function consentPage(outcome: ConsentOutcome): { status: 200 | 400; html: string } {
  if (outcome.ok) {
    const scopes = outcome.granted.length > 0 ? `<br><br>Access granted: <code>${outcome.granted.map(escape).join(' ')}</code>.` : '';
    const dropped =
      outcome.notGranted.length > 0
        ? `<br>Asked for but not granted by the issuer: <code>${outcome.notGranted.map(escape).join(' ')}</code>. Calls that need ${outcome.notGranted.length === 1 ? 'it' : 'them'} will be refused.`
        : '';
    return {
      status: 200,
      html: page('Access approved', `Thank you. ${outcome.reauthorised ? 'The existing connection was renewed' : 'The connection was created'} (${escape(outcome.tokenId)})${outcome.held ? `, but it is held suspended until the platform's security team releases it: ${escape(outcome.held)}` : ''}. You can close this window.${scopes}${dropped}`),
    };
  }
  return {
    status: 400,
    html: page(
      'The connection was not made',
      `${escape(outcome.message)}<br><br><small>Error code: <code>${escape(outcome.error)}</code>. Nothing was stored; the attempt is recorded in the audit ledger.</small>`,
    ),
  };
}

/** The page for a consent link that cannot be used (unknown, used, expired). */
export function linkFailurePage(failure: { error: string; message: string }): string {
  return page('This link cannot be used', `${escape(failure.message)}<br><br><small>Error code: <code>${escape(failure.error)}</code>.</small>`);
}

/**
 * What a consent link shows before anything happens: who is asking for what, and one button. A
 * link scanner or chat preview that fetches the link changes nothing; the button (a POST to the
 * same address) uses the link up and goes to the issuer.
 */
export function linkPreviewPage(p: { tenantName: string; providerName: string; issuer: string | null; scopes: string[]; purpose: string | null; expiresAt: string; renews?: string | null }): string {
  const scopes = p.scopes.length > 0 ? `<li>Access asked for: <code>${p.scopes.map(escape).join(' ')}</code></li>` : '';
  const purpose = p.purpose ? `<li>Why: ${escape(p.purpose)}</li>` : '';
  const renews = p.renews ? `<li>This renews an existing connection (${escape(p.renews)}): nothing new is created.</li>` : '';
  return page(
    `Approve access for ${escape(p.tenantName)}`,
    `You are asked to approve access to <strong>${escape(p.providerName)}</strong>${p.issuer ? ` (${escape(p.issuer)})` : ''} on behalf of <strong>${escape(p.tenantName)}</strong>.` +
      `<ul>${renews}${scopes}${purpose}<li>This link works once, until ${escape(p.expiresAt)}.</li></ul>` +
      `You will sign in at the issuer and approve there; your approval is recorded with your name.` +
      `<form method="post" data-custody="continue"><button type="submit" style="font-size:1.1em;padding:.5em 1.2em">Continue to ${escape(p.providerName)}</button></form>`,
  );
}
