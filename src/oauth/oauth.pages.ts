import type { ConsentOutcome } from './oauth.types.ts';

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The page the customer administrator sees at the end of a consent, success or not. */
export function consentPage(outcome: ConsentOutcome): { status: 200 | 400; html: string } {
  const [status, title, body]: [200 | 400, string, string] = outcome.ok
    ? [200, 'Access approved', `Thank you. ${outcome.reauthorised ? 'The existing connection was renewed' : 'The connection was created'} (${escape(outcome.tokenId)}). You can close this window.`]
    : [400, 'The connection was not made', `${escape(outcome.message)}<br><br><small>Error code: <code>${escape(outcome.error)}</code>. Nothing was stored; the attempt is recorded in the audit ledger.</small>`];
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Custody — ${title}</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"></head>` +
    `<body style="font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em">` +
    `<h1>${title}</h1><p>${body}</p></body></html>`;
  return { status, html };
}
