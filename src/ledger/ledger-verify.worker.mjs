// Entry of a ledger verification worker when running from the TypeScript sources: a worker thread
// does not always inherit the TypeScript loader of the thread that started it, so it registers
// tsx itself, then loads the worker proper. The compiled build runs ledger-verify.worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./ledger-verify.worker.ts');
