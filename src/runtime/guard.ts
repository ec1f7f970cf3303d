// Fault containment around the wasm kernels. A kernel that traps (a WebAssembly.RuntimeError: an
// out-of-bounds access, `unreachable`, a stack overflow inside wasm) or a RangeError while moving data
// in or out of linear memory leaves that memory in an unknown state: half-written workspaces, and
// possibly a half-updated decoder state. withKernel turns such an error into a PerformerError
// 'KERNEL_FAULT' after replacing the instance with a fresh one of the same module (load.ts rebuild()),
// so the next call starts on clean memory and works.
//
// What survives a fault: FavorAttention instances (their configuration and projection live in JS and
// are written into the workspace on every call). What does not: decoders, whose (S, z, c) lived in the
// old instance's memory; they throw INVALID_STATE from then on and are restored from a saveState()
// taken before the fault (FavorAttention.decoderFromState).
// The caller's `out` buffer may be partly written when a call fails with KERNEL_FAULT (outputs are
// copied out chunk by chunk); it is never partly written for validation errors, which come first.
//
// Threads: a trap in a pool worker, or a worker that ends while holding a job, fails its job; the
// pool's run() then throws a RuntimeError here, so the call fails the same way (KERNEL_FAULT), and the
// pool replaces the worker in the background (src/threads/pool.ts).
import { PerformerError } from '../arguments/errors.ts';
import { rebuild } from './load.ts';
import { runtime, type Runtime } from './wasm.ts';

/** True for the errors that mean "the wasm side failed" rather than "the caller made a mistake". */
export function isKernelFault(error: unknown): boolean {
  return error instanceof WebAssembly.RuntimeError || error instanceof RangeError;
}

/**
 * Runs `fn` on the running instance. A PerformerError passes through unchanged; a trap or a RangeError
 * rebuilds the instance and becomes KERNEL_FAULT (with the original error as `cause`).
 */
export function withKernel<T>(fn: (rt: Runtime) => T): T {
  const rt = runtime();
  try {
    return fn(rt);
  } catch (error) {
    if (!isKernelFault(error)) throw error;
    let rebuilt = '; the module was rebuilt and the next call starts on fresh memory';
    try {
      rebuild();
    } catch (rebuildError) {
      rebuilt = `; rebuilding the module failed too (${rebuildError instanceof Error ? rebuildError.message : String(rebuildError)})`;
    }
    const fault = new PerformerError('KERNEL_FAULT', `a wasm kernel failed: ${error instanceof Error ? error.message : String(error)}${rebuilt}`);
    fault.cause = error;
    throw fault;
  }
}
