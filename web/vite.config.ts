import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * The console (issue 17): a React single-page app built by `npm run build` (run by `npm install`)
 * into dist/web, which the server serves at `/` (src/http/console.ts). It calls the API through
 * the same endpoint declarations (src/**\/*.contract.ts) as the CLI, so the three cannot drift.
 */
export default defineConfig({
  root: here('.'),
  base: '/',
  plugins: [react()],
  resolve: {
    // The contract's id helpers import node:crypto for making ids; the console never makes one,
    // but the import must resolve in a browser bundle.
    alias: { 'node:crypto': here('src/shims/node-crypto.ts') },
  },
  build: { outDir: here('../dist/web'), emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000, reportCompressedSize: false },
  logLevel: 'warn',
});
