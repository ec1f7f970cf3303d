// Runs the edge decoder example in workerd until Ctrl-C:
//   npm run build && npm run example:edge -- [--port 8787] [--dir .edge-decoder] [--config '{"dim":64,"heads":8,"features":128}']
// Sessions are stored on disk in <dir>/storage and survive restarts; <dir>/config.capnp is the
// generated workerd config (`workerd serve <dir>/config.capnp` runs it again without this script).
import { parseArgs } from 'node:util';
import { startEdge, writeEdgeConfig } from './launch.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    dir: { type: 'string', default: '.edge-decoder' },
    config: { type: 'string', default: '{"dim":64,"heads":8,"features":128,"seed":1}' },
  },
});
const port = Number(values.port);
const path = writeEdgeConfig(values.dir, port, JSON.parse(values.config));
const server = await startEdge(path, port);
console.log(`edge decoder on ${server.origin} (config ${path}); Ctrl-C stops it`);
server.child.stdout!.pipe(process.stdout);
server.child.stderr!.pipe(process.stderr);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.stop('SIGTERM').then(() => process.exit(0)));
