import type { Static } from 'typebox';
import type { LedgerEntrySchema, VerifyResultSchema } from './ledger.contract.ts';

/** One entry as the API shows it: derived from its schema (ledger.contract.ts). */
export type LedgerEntry = Static<typeof LedgerEntrySchema>;

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
