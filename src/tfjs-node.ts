// performer-wasm/tfjs in Node (the `node` export condition): the ops of tfjs.ts, loaded after a check that
// TensorFlow.js is installed. A static import of a missing package fails while Node links the modules,
// before any code of ours runs ("Cannot find package '@tensorflow/tfjs-core'"); importing it here first
// lets the error say what to install. Bundlers resolve the `default` condition (tfjs.ts) and report a
// missing package themselves. The types are tfjs.ts's (the `types` condition).
try {
  await import('@tensorflow/tfjs-core');
} catch (error) {
  const code = (error as { code?: unknown }).code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
  throw new Error(
    'performer-wasm/tfjs needs TensorFlow.js: npm install @tensorflow/tfjs (or @tensorflow/tfjs-core 4.x with a backend, ' +
      'and its gradients registered)',
    { cause: error },
  );
}

const ops = await import('./tfjs.ts');
export const favorAttention: typeof ops.favorAttention = ops.favorAttention;
export const exactAttention: typeof ops.exactAttention = ops.exactAttention;
