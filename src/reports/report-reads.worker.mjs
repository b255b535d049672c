// Entry of a compliance report reading thread when running from the TypeScript sources: a worker
// thread does not always inherit the TypeScript loader of the thread that started it, so it
// registers tsx itself, then loads the worker proper. The compiled build runs report-reads.worker.js.
import { register } from 'tsx/esm/api';

register();
await import('./report-reads.worker.ts');
