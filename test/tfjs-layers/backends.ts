// The tfjs backends the layer tests run on in Node: 'cpu' (tfjs-backend-cpu) and 'wasm' (tfjs-backend-wasm,
// its .wasm loaded from node_modules); 'tensorflow' (tfjs-node) when that package is installed.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

tf.enableProdMode(); // no hint to install tfjs-node

const require = createRequire(import.meta.url);

/** The backends to test on, each made ready once; tfjs-node only where it loads. */
export async function layerBackends(): Promise<string[]> {
  const names = ['cpu'];
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}/dist/`);
  if (await tf.setBackend('wasm')) names.push('wasm');
  try {
    await import('@tensorflow/tfjs-node' as string);
    if (await tf.setBackend('tensorflow')) names.push('tensorflow');
  } catch {
    // not installed: tested where it is
  }
  await tf.setBackend('cpu');
  return names;
}
