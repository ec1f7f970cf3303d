// Vite (`vite build`): nothing for performer-wasm; Vite bundles its pool worker by itself.
export default {
  build: { outDir: 'dist-vite' },
};
