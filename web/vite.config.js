// The depositors' web app: a static page, built offline (`vite build` -> dist/), served by
// `keeper web`, which adds /api/config (RPC URL, chain id, addresses, ABIs). See docs/web.md.
import { defineConfig } from 'vite'

export default defineConfig({
  // Relative asset URLs: the page works under any path it is served from.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run dev --prefix web` next to a running `keeper web --port 8765` (config proxied).
    proxy: { '/api': 'http://127.0.0.1:8765' },
  },
})
