// Vite 7. `vite build` needs nothing for performer-wasm: Vite bundles its pool worker by itself.
// The dev server (`vite`) pre-bundles dependencies into .vite/deps/, away from the package's
// pool-worker.js: exclude performer-wasm from that step, or threads fall back to one thread there.
// Threads also need a cross-origin-isolated page: the dev and preview servers send COOP/COEP.
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default {
  optimizeDeps: { exclude: ['performer-wasm'] },
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  build: { outDir: 'dist-vite' },
};
