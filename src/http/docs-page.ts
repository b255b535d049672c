/** A self-contained, human-readable page of the API, rendered from the OpenAPI document. */
interface OpenApiDoc {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, { summary?: string; tags?: string[]; security?: unknown[]; requestBody?: { content?: Record<string, { schema?: unknown }> }; parameters?: { name: string; in: string; required?: boolean; description?: string }[] }>>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function renderDocsPage(doc: OpenApiDoc): string {
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters ?? []).map((p) => `<code>${esc(p.name)}</code> <small>(${esc(p.in)}${p.required ? ', required' : ''})</small>`).join(', ');
      const body = op.requestBody?.content?.['application/json']?.schema;
      rows.push(
        `<section><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>` +
          `<p>${esc(op.summary ?? '')}</p>${params ? `<p>Parameters: ${params}</p>` : ''}` +
          (body ? `<details><summary>Request body</summary><pre>${esc(JSON.stringify(body, null, 2))}</pre></details>` : '') +
          `</section>`,
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1b1f24}
section{border-top:1px solid #ddd;padding:.5rem 0}h3{margin:.3rem 0;font-size:1rem}.m{display:inline-block;min-width:4.5rem;font-weight:700}
.get{color:#0a7}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}pre{background:#f5f5f5;padding:.5rem;overflow:auto;font-size:12px}</style></head>
<body><h1>${esc(doc.info.title)} API <small>v${esc(doc.info.version)}</small></h1><p>${esc(doc.info.description ?? '')}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code>. Errors are <code>{"error":{"code","message"}}</code>.
The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>${rows.join('\n')}</body></html>`;
}
