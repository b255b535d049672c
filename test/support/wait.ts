/**
 * Waits until `probe` answers something truthy and returns it; polls every `intervalMs` and fails
 * with `what` after `timeoutMs`. A test that waits on an event it can observe uses this instead of
 * a fixed sleep; no test asserts on how long the wait took.
 */
export async function eventually<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: { what?: string; timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const { what = 'the condition', timeoutMs = 10_000, intervalMs = 20 } = options;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
