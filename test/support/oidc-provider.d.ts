// oidc-provider ships no types; only what the tests and benchmarks use is declared here.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    on(event: string, listener: (...args: any[]) => void): this;
    /** Koa middleware, run around the provider's own routes (added before callback()). */
    use(fn: (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>): this;
  }
  export interface ProviderContext {
    path: string;
    method: string;
    body: unknown;
    oidc?: { params?: Record<string, unknown> };
  }
}
