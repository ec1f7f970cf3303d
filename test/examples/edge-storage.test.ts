// The edge decoder's storage layout (examples/edge-decoder/storage.js) on an in-memory stand-in for
// Durable Object storage that enforces Cloudflare's limits (128 KiB per value, 128 keys per put): a
// state of several values is written in one put and read back byte for byte; a missing value, a
// length that disagrees with the record, an unknown layout are refused (500 INVALID_STATE); a state
// too large for one atomic put is refused when the session is created.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VALUE_BYTES } from '../../examples/edge-decoder/config.js';
import { checkStateSize, loadSession, saveSession, STORAGE_FORMAT, type KeyValueStorage } from '../../examples/edge-decoder/storage.js';

/** A Map behind the storage API; each put() is recorded (its keys) and checked against the limits. */
function memoryStorage() {
  const data = new Map<string, unknown>();
  const puts: string[][] = [];
  const storage = {
    async put(entries: Record<string, unknown>) {
      const keys = Object.keys(entries);
      assert.ok(keys.length <= 128, `${keys.length} keys in one put`);
      for (const key of keys) {
        const value = entries[key];
        if (value instanceof Uint8Array) assert.ok(value.byteLength <= 128 * 1024 && value.byteOffset === 0 && value.buffer.byteLength === value.byteLength, `${key}: a value of its own ≤ 128 KiB`);
        data.set(key, structuredClone(value));
      }
      puts.push(keys);
    },
    async get(key: string | string[]) {
      if (Array.isArray(key)) return new Map(key.filter((k) => data.has(k)).map((k) => [k, data.get(k)]));
      return data.get(key);
    },
  } as KeyValueStorage;
  return { storage, data, puts };
}

const state = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
const record = { id: 'a', config: '{}', position: 3 };

async function refused(promise: Promise<unknown>, pattern: RegExp) {
  try {
    await promise;
  } catch (error) {
    const e = error as { status: number; code: string; message: string };
    assert.is(e.status, 500);
    assert.is(e.code, 'INVALID_STATE');
    assert.match(e.message, pattern);
    return;
  }
  assert.unreachable('not refused');
}

test('no session stored: undefined', async () => {
  assert.is(await loadSession(memoryStorage().storage), undefined);
});

for (const bytes of [1, VALUE_BYTES - 1, VALUE_BYTES, VALUE_BYTES + 1, 3 * VALUE_BYTES + 12345]) {
  test(`a state of ${bytes} bytes: one put of ${Math.ceil(bytes / VALUE_BYTES)} value(s) and the record; read back byte for byte`, async () => {
    const { storage, puts } = memoryStorage();
    const saved = state(bytes);
    const meta = await saveSession(storage, record, saved);
    assert.is(puts.length, 1);
    assert.is(puts[0]!.length, 1 + Math.ceil(bytes / VALUE_BYTES));
    assert.equal([meta.format, meta.stateBytes, meta.stateChunks, meta.position], [STORAGE_FORMAT, bytes, Math.ceil(bytes / VALUE_BYTES), 3]);
    const loaded = await loadSession(storage);
    assert.equal(loaded!.state, saved);
    assert.is(loaded!.meta.id, 'a');
  });
}

test('a missing value, a length that disagrees, an unknown layout: 500 INVALID_STATE', async () => {
  const { storage, data } = memoryStorage();
  await saveSession(storage, record, state(2 * VALUE_BYTES + 5));
  data.delete('state/1');
  await refused(loadSession(storage), /missing its value 'state\/1'/);

  await saveSession(storage, record, state(2 * VALUE_BYTES + 5));
  data.set('state/2', state(6));
  await refused(loadSession(storage), /longer than/);

  await saveSession(storage, record, state(2 * VALUE_BYTES + 5));
  data.set('state/2', state(4));
  await refused(loadSession(storage), /has \d+ bytes, its record says/);

  await saveSession(storage, record, state(10));
  data.set('meta', { ...(data.get('meta') as object), format: STORAGE_FORMAT + 1 });
  await refused(loadSession(storage), /storage format 2/);
});

test('a state needing more than 127 values is refused at creation (500 CONFIG_INVALID)', () => {
  checkStateSize(127 * VALUE_BYTES);
  assert.throws(() => checkStateSize(127 * VALUE_BYTES + 1), (e: { code: string }) => e.code === 'CONFIG_INVALID');
});

test.run();
