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
    return { status: 200, html: page('Access approved', `Thank you. ${outcome.reauthorised ? 'The existing connection was renewed' : 'The connection was created'} (${escape(outcome.tokenId)}). You can close this window.`) };
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
