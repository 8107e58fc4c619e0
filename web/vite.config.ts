/**
 * The dashboard's build: `vite build web` (run by `npm run build`) writes the assets to dist/web/, where
 * olelo's HTTP server serves them. `npx vite web` is the development server: it proxies /api to a
 * running olelo (OLELO_URL, default http://127.0.0.1:8090, the control API's default address).
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // absolute asset paths: client-side routes (/subscribers) load the same /assets/...
  base: '/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web/', import.meta.url)),
    emptyOutDir: true,
    // one small bundle; no source maps shipped to operators' browsers
    sourcemap: false,
  },
  server: {
    proxy: { '/api': { target: process.env.OLELO_URL ?? 'http://127.0.0.1:8090', changeOrigin: false } },
  },
});
