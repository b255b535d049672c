import type { Static } from 'typebox';
import type { VerifyResultSchema } from './ledger.contract.ts';

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

/** What `verify` finds: derived from its schema (ledger.contract.ts). */
export type VerifyResult = Static<typeof VerifyResultSchema>;
