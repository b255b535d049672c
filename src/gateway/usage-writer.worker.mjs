// Entry of the usage writer thread. A worker thread does not always inherit the TypeScript loader
// of the thread that started it (under the test runner it does not), so it registers tsx itself,
// then loads the worker proper.
import { register } from 'tsx/esm/api';

register();
await import('./usage-writer.worker.ts');
