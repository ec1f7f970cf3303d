import * as assert from 'uvu/assert';
import { PerformerError, type PerformerErrorCode } from '../../src/index.ts';

/** Asserts that fn throws a PerformerError with this code; returns its message. */
export function throwsCode(fn: () => unknown, code: PerformerErrorCode): string {
  try {
    fn();
  } catch (error) {
    assert.instance(error, PerformerError, `expected a PerformerError, got ${String(error)}`);
    assert.is((error as PerformerError).code, code, (error as Error).message);
    return (error as Error).message;
  }
  assert.unreachable(`expected ${code}, but nothing was thrown`);
  return '';
}
