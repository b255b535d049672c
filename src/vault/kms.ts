/**
 * The key-encryption boundary. The local keyring implements it today; a cloud KMS (AWS KMS, GCP
 * KMS, Vault Transit) can replace it without touching the rest of the vault. Operations are async
 * because every real KMS is a network call.
 */
export interface Kms {
  readonly name: string;
  /** The version new data keys are wrapped with. */
  currentVersion(): Promise<number>;
  /** Every version this KMS can unwrap. */
  versions(): Promise<number[]>;
  wrap(dataKey: Buffer, aad: Buffer): Promise<{ version: number; wrapped: string }>;
  unwrap(wrapped: string, version: number, aad: Buffer): Promise<Buffer>;
}

export class KmsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KmsError';
  }
}
