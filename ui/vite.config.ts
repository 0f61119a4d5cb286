import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The web UI's build: Preact pages into `dist/ui`, which the runtime's HTTP server serves at `/`.
 * Everything the pages need is in the bundle; nothing is fetched from the internet.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
  },
  logLevel: 'warn',
});
