/** What the contract's id helpers (src/shared/ids.ts) import from node:crypto, from the browser's Web Crypto. */
export function randomBytes(n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}
export default { randomBytes };
