// esbuild: the page script, the app's worker, and performer-wasm's pool worker as a third entry point
// named pool-worker, side by side in dist-esbuild/. esbuild leaves `new Worker(new URL('./x.js',
// import.meta.url))` as it is, so every worker script must be an entry point beside the bundle that
// starts it. CLI equivalent:
//   esbuild src/main.js src/worker.js pool-worker=performer-wasm/pool-worker --bundle --format=esm --minify --outdir=dist-esbuild
// The page: dist-esbuild/index.html, the app's index.html with its script src="./main.js".
export default {
  absWorkingDir: import.meta.dirname,
  entryPoints: { main: 'src/main.js', worker: 'src/worker.js', 'pool-worker': 'performer-wasm/pool-worker' },
  bundle: true,
  format: 'esm',
  minify: true,
  outdir: 'dist-esbuild',
};
