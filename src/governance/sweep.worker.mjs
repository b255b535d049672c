// Entry of the governance sweep thread. A worker thread does not always inherit the TypeScript
// loader of the thread that started it (under the test runner it does not), so it registers tsx
// itself, then loads the worker proper.
import { register } from 'tsx/esm/api';

register();
await import('./sweep.worker.ts');
