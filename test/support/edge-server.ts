// Shared by the edge decoder tests: workerd with the example on `config`, on-disk storage in a temporary
// folder, and Node's FavorAttention of the same configuration (baseline build on both sides).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FavorAttention, init } from 'performer-wasm';
import { startEdge, writeEdgeConfig, type DecoderConfig, type EdgeServer } from '../../examples/edge-decoder/launch.ts';
import { assertBuilt, findBinary, freePort, orSkip } from '../package/runtimes/harness.ts';

export interface EdgeFixture {
  attn: FavorAttention;
  dir: string;
  port: number;
  server: EdgeServer;
}

/** Starts the service; undefined when workerd is missing (a note locally, a failure with CI=true). */
export async function openEdge(name: string, config: DecoderConfig & { kernel?: 'softmax' }): Promise<EdgeFixture | undefined> {
  assertBuilt();
  await init(undefined, { relaxedSimd: false });
  let available = false;
  await orSkip(`workerd (${name})`, async () => {
    findBinary('workerd');
    available = true;
  });
  if (!available) return undefined;
  const attn = new FavorAttention({ dim: config.dim, features: config.features, kernel: config.kernel, seed: config.seed, causal: true });
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const port = await freePort();
  return { attn, dir, port, server: await startEdge(writeEdgeConfig(dir, port, config), port) };
}

/** Stops the service and removes its folder. */
export async function closeEdge(server: EdgeServer | undefined, dir: string): Promise<void> {
  await server?.stop('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
}
