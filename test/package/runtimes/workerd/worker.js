// workerd entry for the runtime matrix: GET / runs the smoke and answers its result as JSON. The
// package is imported through its `workerd` export condition (dist/index-edge.js, which imports the
// .wasm files as modules: workerd refuses to compile wasm from bytes).
import { runSmoke } from '../smoke.js';

export default {
  async fetch() {
    try {
      return Response.json(await runSmoke());
    } catch (error) {
      return new Response(String(error?.stack ?? error), { status: 500 });
    }
  },
};
