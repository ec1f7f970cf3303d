// webpack 5 (`webpack --config webpack.config.js`, or the Node API): nothing for performer-wasm; webpack
// bundles its pool worker by itself. The page: dist-webpack/index.html, the app's index.html with its
// script src="./main.js".
import { resolve } from 'node:path';

export default {
  mode: 'production',
  context: import.meta.dirname,
  entry: './src/main.js',
  output: { path: resolve(import.meta.dirname, 'dist-webpack') },
};
