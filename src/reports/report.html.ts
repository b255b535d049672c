import type { ComplianceReport, ReportSignature } from './report.contract.ts';
import { reportTable, type Cell } from './report.rules.ts';
import { REPORT_TABLES } from './report.types.ts';

/**
 * The report as one printable page: inline CSS, no script, no image, no font, no link to anything
 * (its Content-Security-Policy forbids loading anything at all), every value escaped. The figures
 * are the same tables the CSV gives; the page names the signature of the JSON report made with it.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const cell = (c: Cell): string => (c === null ? '<span class="none">–</span>' : typeof c === 'number' ? c.toLocaleString('en-US') : escapeHtml(String(c)));

const STYLE = `
  :root { color-scheme: light; }
  body { font: 11pt/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 2em auto; max-width: 60em; padding: 0 1em; }
  h1 { font-size: 18pt; margin: 0 0 .2em; }
  h2 { font-size: 13pt; margin: 1.6em 0 .4em; border-bottom: 1px solid #999; padding-bottom: .1em; }
  .meta { color: #333; margin: 0 0 1em; }
  .headline { font-size: 14pt; margin: .6em 0; }
  table { border-collapse: collapse; width: 100%; margin: .3em 0 .8em; font-size: 9.5pt; }
  th, td { border: 1px solid #bbb; padding: .2em .4em; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
  th { background: #eee; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .none { color: #888; }
  .note { color: #444; font-style: italic; }
  code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 9pt; overflow-wrap: anywhere; }
  footer { margin-top: 2em; border-top: 1px solid #999; padding-top: .5em; font-size: 9pt; color: #333; }
  @media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } tr { break-inside: avoid; } a { color: inherit; text-decoration: none; } }
`;

function htmlTable(columns: string[], rows: Cell[][]): string {
  if (rows.length === 0) return '<p class="note">Nothing to show.</p>';
  const head = `<tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="n"' : ''}>${cell(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

export function reportHtml(r: ComplianceReport, signature: ReportSignature): string {
  const scope = r.scope.tenantId ? `Tenant ${r.scope.tenantName ?? r.scope.tenantId} (${r.scope.tenantId})` : `Every tenant (${r.scope.tenants.toLocaleString('en-US')})`;
  const share = r.managedShare.share === null ? 'no live token' : `${(r.managedShare.share * 100).toFixed(1)} %`;
  const notes: Partial<Record<(typeof REPORT_TABLES)[number], string | null>> = {
    trend: r.managedShare.trend.note,
    lacking_accountability: r.accountability.truncated ? `Only the first ${r.accountability.listLimit} are listed; the counts above include all.` : null,
    exceptions: r.exceptions.truncated ? `Only the first ${r.exceptions.items.length} are listed; ${r.exceptions.inForce} are in force.` : null,
    connections: r.connections.omitted ? 'Left out of this report at the request of whoever asked for it (connections=omit).' : r.connections.truncated ? `Only the first ${r.connections.items.length} of ${r.connections.pairs} pairs are listed.` : null,
    managed_share: r.managedShare.byTenantTruncated ? `Only the first ${r.managedShare.byTenant.length} tenants are listed.` : null,
  };
  const sections = REPORT_TABLES.map((name) => {
    const t = reportTable(r, name);
    const note = notes[name];
    return `<section id="${name}">\n<h2>${escapeHtml(t.title)}</h2>\n${note ? `<p class="note">${escapeHtml(note)}</p>\n` : ''}${htmlTable(t.columns, t.rows)}\n</section>`;
  }).join('\n');
  const cp = r.ledger.checkpoint;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`Custody compliance report — ${scope} — ${r.period.from.slice(0, 10)} to ${r.period.to.slice(0, 10)}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Custody compliance report</h1>
<p class="meta">${escapeHtml(scope)} · period ${escapeHtml(r.period.from)} to ${escapeHtml(r.period.to)} (exclusive) · generated ${escapeHtml(r.generatedAt)} by ${escapeHtml(r.generatedBy)} · ${escapeHtml(r.custody.publicUrl)}</p>
<p class="headline">Managed share: <strong>${escapeHtml(share)}</strong> — ${r.managedShare.managed.toLocaleString('en-US')} of ${r.managedShare.live.toLocaleString('en-US')} live tokens pass the practical test; ${r.findings.total.toLocaleString('en-US')} live findings.</p>
</header>
<main>
${sections}
</main>
<footer>
<p>Evidence: the JSON form of this report (<code>format=json</code>) is signed with the ledger's Ed25519 key <code>${escapeHtml(signature.keyId)}</code> over its RFC 8785 serialisation; check it with <code>custody report verify FILE</code>. The signature of the report these figures come from: <span class="mono">${escapeHtml(signature.value)}</span>.</p>
<p>Ledger head: ${cp ? `checkpoint at entry ${cp.seq}, hash <span class="mono">${escapeHtml(cp.hash)}</span>, signed ${escapeHtml(cp.at)} with <code>${escapeHtml(cp.keyId)}</code>.` : 'no signed checkpoint yet.'} Each figure is explained in docs/compliance.md.</p>
</footer>
</body>
</html>
`;
}
