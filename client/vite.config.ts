import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The SMART app: two pages, built to `client/dist`, which the app server serves at `/`.
 * `base: './'` keeps every asset URL relative, so the pages also work under a sub-path.
 */
export default defineConfig({
  root,
  base: './',
  resolve: {
    alias: { 'isomorphic-webcrypto': fileURLToPath(new URL('src/shims/webcrypto.ts', import.meta.url)) },
  },
  // fhirclient's browser entry polyfills fetch unless this is defined; every browser we support has fetch.
  define: { FHIRCLIENT_PURE: 'true' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    rolldownOptions: {
      input: {
        index: fileURLToPath(new URL('index.html', import.meta.url)),
        launch: fileURLToPath(new URL('launch.html', import.meta.url)),
      },
    },
  },
});
