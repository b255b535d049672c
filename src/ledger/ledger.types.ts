export interface LedgerEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  tenantId: string | null;
  subjectId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface NewLedgerEntry {
  actor: string;
  action: string;
  tenantId?: string | null;
  subjectId?: string | null;
  /** Facts about the change. Never credential material: the ledger is exported and read by auditors. */
  data?: Record<string, unknown>;
}

export interface LedgerFilter {
  tenantId?: string;
  subjectId?: string;
  action?: string;
  afterSeq?: number;
  beforeSeq?: number;
  order: 'asc' | 'desc';
  limit: number;
}

export interface VerifyProgress {
  checked: number;
  total: number;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  lastSeq: number;
  lastHash: string;
  checkpoints: { total: number; verified: number; lastSeq: number | null };
  problems: { kind: string; seq: number; message: string }[];
  durationMs: number;
}
