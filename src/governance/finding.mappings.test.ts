import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SEVERITY, FINDING_MAPPINGS, NIST_AI_RMF, NIST_CSF_2, OWASP_NHI_2025 } from './finding.mappings.ts';
import { FINDING_SEVERITIES, FINDING_TYPES } from './finding.types.ts';

const DOC = fileURLToPath(new URL('../../docs/compliance.md', import.meta.url));

interface DocRow {
  severity: string;
  owaspNhi: string[];
  nistCsf: string[];
  nistAiRmf: string[];
}

/** The rows of the table under "## The mapping": | `type` | severity | ids, … | ids, … | ids, … | */
function mappingRowsOfDoc(): Map<string, DocRow[]> {
  const text = fs.readFileSync(DOC, 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('The mapping\n'));
  if (!section) throw new Error('docs/compliance.md has no "## The mapping" section');
  const ids = (cell: string) => cell.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const rows = new Map<string, DocRow[]>();
  for (const m of section.matchAll(/^\| `([a-z_]+)` \| ([^|]*) \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$/gm)) {
    const [, type, severity, owasp, csf, aiRmf] = m as unknown as [string, string, string, string, string, string];
    rows.set(type, [...(rows.get(type) ?? []), { severity: severity.trim(), owaspNhi: ids(owasp), nistCsf: ids(csf), nistAiRmf: ids(aiRmf) }]);
  }
  return rows;
}

describe('the finding mappings', () => {
  it('map every finding type to at least one OWASP NHI risk and one CSF 2.0 subcategory', () => {
    for (const type of FINDING_TYPES) {
      expect(FINDING_MAPPINGS[type].owaspNhi.length, type).toBeGreaterThan(0);
      expect(FINDING_MAPPINGS[type].nistCsf.length, type).toBeGreaterThan(0);
    }
  });

  it('use only ids their name tables define, each once per row', () => {
    for (const type of FINDING_TYPES) {
      const m = FINDING_MAPPINGS[type];
      for (const [used, names] of [[m.owaspNhi, OWASP_NHI_2025], [m.nistCsf, NIST_CSF_2], [m.nistAiRmf, NIST_AI_RMF]] as const) {
        for (const id of used) expect(Object.keys(names), `${type}: ${id}`).toContain(id);
        expect(new Set(used).size, type).toBe(used.length);
      }
    }
  });

  it('name the whole OWASP NHI Top 10 (2025), and in the NIST tables only ids some finding uses', () => {
    expect(Object.keys(OWASP_NHI_2025)).toEqual(['NHI1', 'NHI2', 'NHI3', 'NHI4', 'NHI5', 'NHI6', 'NHI7', 'NHI8', 'NHI9', 'NHI10']);
    const used = (pick: (t: (typeof FINDING_TYPES)[number]) => string[]) => new Set(FINDING_TYPES.flatMap(pick));
    expect(new Set(Object.keys(NIST_CSF_2))).toEqual(used((t) => FINDING_MAPPINGS[t].nistCsf));
    expect(new Set(Object.keys(NIST_AI_RMF))).toEqual(used((t) => FINDING_MAPPINGS[t].nistAiRmf));
  });

  it('write CSF 2.0 subcategory ids (PR.AA-05, never CSF 1.1 forms such as PR.AC-4) and AI RMF subcategory ids', () => {
    for (const id of Object.keys(NIST_CSF_2)) expect(id).toMatch(/^(GV|ID|PR|DE|RS|RC)\.[A-Z]{2}-\d{2}$/);
    // Categories CSF 2.0 withdrew (their outcomes moved, e.g. PR.AC-4 to PR.AA-05, ID.SC to GV.SC).
    for (const id of Object.keys(NIST_CSF_2)) expect(id).not.toMatch(/^(PR\.(AC|IP|PT|MA)|ID\.(BE|GV|SC)|DE\.DP|RS\.(RP|IM)|RC\.IM)-/);
    for (const id of Object.keys(NIST_AI_RMF)) expect(id).toMatch(/^(GOVERN|MAP|MEASURE|MANAGE) \d\.\d{1,2}$/);
  });

  it('pair NHI3 (third-party NHI) with the customer’s supplier-risk outcome (GV.SC) and keep GV.SC for those rows', () => {
    for (const type of FINDING_TYPES) {
      const m = FINDING_MAPPINGS[type];
      expect(m.owaspNhi.includes('NHI3'), type).toBe(m.nistCsf.some((id) => id.startsWith('GV.SC-')));
    }
  });

  it('give every finding type a default severity of the known scale', () => {
    for (const type of FINDING_TYPES) expect(FINDING_SEVERITIES, type).toContain(DEFAULT_SEVERITY[type]);
  });
});

describe('docs/compliance.md', () => {
  const rows = mappingRowsOfDoc();

  it('has exactly one mapping row per finding type, and none for unknown types', () => {
    for (const type of FINDING_TYPES) expect(rows.get(type)?.length ?? 0, type).toBe(1);
    expect([...rows.keys()].filter((t) => !(FINDING_TYPES as readonly string[]).includes(t))).toEqual([]);
  });

  it('lists exactly the OWASP NHI ids of the code for each finding type', () => {
    for (const type of FINDING_TYPES) expect(rows.get(type)?.[0]?.owaspNhi, type).toEqual(FINDING_MAPPINGS[type].owaspNhi);
  });

  it('lists exactly the CSF 2.0 and AI RMF ids and the default severity of the code for each finding type', () => {
    for (const type of FINDING_TYPES) {
      const row = rows.get(type)?.[0];
      expect(row?.nistCsf, type).toEqual(FINDING_MAPPINGS[type].nistCsf);
      expect(row?.nistAiRmf, type).toEqual(FINDING_MAPPINGS[type].nistAiRmf);
      expect(row?.severity, type).toBe(DEFAULT_SEVERITY[type]);
    }
  });
});
