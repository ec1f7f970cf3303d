// The app's Web Worker: performer-wasm's threads block on Atomics.wait, which a page's main thread may
// not do. `import 'performer-wasm/threads'` is the one step that threads need (an app without it
// bundles no pool and no shared-memory builds).
import 'performer-wasm/threads';
import { runWorkload } from './workload.js';

runWorkload({ threads: 2 }).then(
  (result) => postMessage(result),
  (error) => postMessage({ error: String(error?.stack ?? error) }),
);
