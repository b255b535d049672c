// Entry of the WAL checkpoint thread. A worker thread does not always inherit the TypeScript
// loader of the thread that started it (under the test runner it does not), so it registers tsx
// itself, then loads the worker proper.
import { register } from 'tsx/esm/api';

register();
await import('./wal-checkpoint.worker.ts');
