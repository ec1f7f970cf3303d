// The edge decoder's storage (examples/edge-decoder/storage.js, log-record.js, journal.js) on an
// in-memory stand-in for Durable Object storage that enforces Cloudflare's limits (128 KiB per value,
// 128 keys per put and per delete) and applies a transaction all at once:
//   - a snapshot of several values is one put, read back byte for byte; a missing value, a length
//     that disagrees with the record, an unknown layout are refused (500 INVALID_STATE);
//   - the journal appends one record per request and replaces the records with a snapshot (one
//     transaction) every snapshotTokens tokens; a restore (the snapshot, then the records applied again)
//     continues bit for bit like the uninterrupted decoder, and answers a retry of the last request;
//   - a changed byte in a record, a missing record, a record that answers other bits are refused
//     (500 INVALID_LOG, INVALID_LOG, REPLAY_MISMATCH), never skipped; a state too large for one atomic
//     put is refused when the session is created.
import { FavorAttention, init } from 'performer-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyRequest } from '../../examples/edge-decoder/apply.js';
import { readConfig, VALUE_BYTES } from '../../examples/edge-decoder/config.js';
import { isRetryOf, Journal } from '../../examples/edge-decoder/journal.js';
import { encodeRecord } from '../../examples/edge-decoder/log-record.js';
import { fnv1a, request, type RequestKind } from '../../examples/edge-decoder/protocol.js';
import { checkStateSize, loadSession, saveSnapshot, STORAGE_FORMAT, type KeyValueStorage } from '../../examples/edge-decoder/storage.js';
import { uniform } from '../package/runtimes/smoke.js';
import { bits } from '../support/edge-reference.ts';

/** A Map behind the storage API; each put() is recorded (its keys) and checked against the limits. */
function memoryStorage() {
  const data = new Map<string, unknown>();
  const puts: string[][] = [];
  const transactions: number[] = [];
  const put = (target: Map<string, unknown>, entries: Record<string, unknown>) => {
    const keys = Object.keys(entries);
    assert.ok(keys.length <= 128, `${keys.length} keys in one put`);
    for (const key of keys) {
      const value = entries[key];
      if (value instanceof Uint8Array) assert.ok(value.byteLength <= 128 * 1024 && value.byteOffset === 0 && value.buffer.byteLength === value.byteLength, `${key}: a value of its own ≤ 128 KiB`);
      target.set(key, structuredClone(value));
    }
    puts.push(keys);
  };
  const remove = (target: Map<string, unknown>, keys: string[]) => {
    assert.ok(keys.length <= 128, `${keys.length} keys in one delete`);
    for (const key of keys) target.delete(key);
  };
  const storage = {
    async put(entries: Record<string, unknown>) {
      put(data, entries);
    },
    async get(key: string | string[]) {
      if (Array.isArray(key)) return new Map(key.filter((k) => data.has(k)).map((k) => [k, data.get(k)]));
      return data.get(key);
    },
    async list({ prefix }: { prefix: string }) {
      return new Map([...data].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)));
    },
    async delete(keys: string[]) {
      remove(data, keys);
    },
    async deleteAll() {
      data.clear();
    },
    // all or nothing: the closure works on a copy, which replaces the data when it succeeds
    async transaction(closure: (txn: unknown) => Promise<void>) {
      const copy = new Map(data);
      let count = 0;
      await closure({ put: async (entries: Record<string, unknown>) => put(copy, entries), delete: async (keys: string[]) => { count += keys.length; remove(copy, keys); } });
      data.clear();
      for (const [k, v] of copy) data.set(k, v);
      transactions.push(count);
    },
  } as KeyValueStorage;
  return { storage, data, puts, transactions };
}

const state = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
const record = { id: 'a', config: '{}', position: 3 };

async function refused(promise: Promise<unknown>, code: string, pattern: RegExp) {
  try {
    await promise;
  } catch (error) {
    const e = error as { status: number; code: string; message: string };
    assert.is(e.status, 500);
    assert.is(e.code, code, e.message);
    assert.match(e.message, pattern);
    return;
  }
  assert.unreachable('not refused');
}

test('no session stored: undefined', async () => {
  assert.is(await loadSession(memoryStorage().storage), undefined);
});

for (const bytes of [1, VALUE_BYTES - 1, VALUE_BYTES, VALUE_BYTES + 1, 3 * VALUE_BYTES + 12345]) {
  test(`a snapshot of ${bytes} bytes: one put of ${Math.ceil(bytes / VALUE_BYTES)} value(s) and the record; read back byte for byte`, async () => {
    const { storage, puts } = memoryStorage();
    const saved = state(bytes);
    const { meta } = await saveSnapshot(storage, record, saved, undefined);
    assert.is(puts.length, 1);
    assert.is(puts[0]!.length, 1 + Math.ceil(bytes / VALUE_BYTES));
    assert.equal([meta.format, meta.stateBytes, meta.stateChunks, meta.position], [STORAGE_FORMAT, bytes, Math.ceil(bytes / VALUE_BYTES), 3]);
    const loaded = await loadSession(storage);
    assert.equal(loaded!.state, saved);
    assert.is(loaded!.meta.id, 'a');
    assert.equal(loaded!.records, []);
  });
}

test('a missing value, a length that disagrees, an unknown layout: 500 INVALID_STATE', async () => {
  const { storage, data } = memoryStorage();
  await saveSnapshot(storage, record, state(2 * VALUE_BYTES + 5), undefined);
  data.delete('state/1');
  await refused(loadSession(storage), 'INVALID_STATE', /missing its value 'state\/1'/);

  await saveSnapshot(storage, record, state(2 * VALUE_BYTES + 5), undefined);
  data.set('state/2', state(6));
  await refused(loadSession(storage), 'INVALID_STATE', /longer than/);

  await saveSnapshot(storage, record, state(2 * VALUE_BYTES + 5), undefined);
  data.set('state/2', state(4));
  await refused(loadSession(storage), 'INVALID_STATE', /has \d+ bytes, its record says/);

  await saveSnapshot(storage, record, state(10), undefined);
  data.set('meta', { ...(data.get('meta') as object), format: STORAGE_FORMAT + 1 });
  await refused(loadSession(storage), 'INVALID_STATE', /storage format 3/);
});

test('a state needing more than 127 values is refused at creation (500 CONFIG_INVALID)', () => {
  checkStateSize(127 * VALUE_BYTES);
  assert.throws(() => checkStateSize(127 * VALUE_BYTES + 1), (e: { code: string }) => e.code === 'CONFIG_INVALID');
});

// the journal on a real decoder (Node, baseline build): dim 8, 2 heads, m 12, valueDim 6; snapshots every 10 tokens
await init(undefined, { relaxedSimd: false });
const config = readConfig({ dim: 8, heads: 2, valueDim: 6, features: 12, seed: 3, snapshotTokens: 10 });
const attn = new FavorAttention({ dim: 8, features: 12, seed: 3, causal: true });
const PER = 2 * (2 * 8 + 6);
/** Requests of a session: kinds and sizes in turn, positions following each other. */
const SIZES: Array<[RequestKind, number]> = [['step', 1], ['step', 3], ['prefill-last', 4], ['step', 1], ['prefill-all', 5], ['step', 2], ['step', 1]];
function requests(count: number) {
  let position = 0;
  return Array.from({ length: count }, (_, i) => {
    const [kind, tokens] = SIZES[i % SIZES.length]!;
    const input = request(config, kind, position, tokens, uniform(tokens * PER, 40 + i, 0.75));
    position += tokens;
    return input;
  });
}

/** A journal that committed `inputs` in turn; the live decoder, and every answer. */
async function journalOf(storage: KeyValueStorage, inputs: ReturnType<typeof requests>) {
  const journal = new Journal(storage, config);
  const decoder = attn.decoder({ heads: 2, valueDim: 6 });
  await journal.create('j', decoder);
  const answers = [];
  for (const input of inputs) {
    const answer = applyRequest(decoder, config, input);
    await journal.commit('j', decoder, input, answer);
    answers.push(answer);
  }
  return { journal, decoder, answers };
}

test('the journal: a record per request, a snapshot (one transaction deleting the records) every 10 tokens; a restore continues bit for bit', async () => {
  const { storage, data, transactions } = memoryStorage();
  const inputs = requests(12); // 31 tokens: snapshots at 14 and 25, three records after
  const { journal, decoder } = await journalOf(storage, inputs);
  assert.ok(transactions.length === 2 && transactions.every((n) => n > 0), `snapshots replacing records: ${transactions}`);
  const described = journal.describe();
  const logged = [...data.keys()].filter((k) => k.startsWith('log/')).length;
  assert.is(described.logRecords, logged);
  assert.is(described.snapshotPosition + described.logTokens, decoder.position);
  const recordBytes = inputs.slice(-described.logRecords).reduce((s, x) => s + encodeRecord(x, 0).length, 0);
  assert.is(described.logBytes, recordBytes, 'a record is its 32-byte header and the request floats');

  const restored = await new Journal(storage, config).restore(attn);
  assert.is(restored!.decoder.position, decoder.position);
  assert.equal(restored!.decoder.saveState(), decoder.saveState(), 'the same state, byte for byte');
  const last = inputs.at(-1)!;
  assert.equal([restored!.last.kind, restored!.last.from, restored!.last.tokens, restored!.last.digest], [last.kind, last.position, last.tokens, last.digest]);
  const next = request(config, 'prefill-all', decoder.position, 3, uniform(3 * PER, 99, 0.75));
  assert.equal(bits(applyRequest(restored!.decoder, config, next)), bits(applyRequest(decoder, config, next)));
  restored!.decoder.dispose();
  decoder.dispose();
});

test('a retry of the last request is recognized after a restore: from a record, from a snapshot, from an older snapshot whose digest is over bytes', async () => {
  const inputs = requests(7); // 17 tokens: a snapshot at 14 (the prefill of 5), then records
  const changed = (input: (typeof inputs)[number]) => request(config, input.kind, input.position, input.tokens, input.floats.map((x, i) => (i ? x : x + 1)));
  for (const [name, count] of [['a record', 7], ['a snapshot', 5]] as const) {
    const { storage, data } = memoryStorage();
    const { decoder } = await journalOf(storage, inputs.slice(0, count));
    const last = inputs[count - 1]!;
    const restored = await new Journal(storage, config).restore(attn);
    assert.ok(isRetryOf(restored!.last, last), name);
    assert.not.ok(isRetryOf(restored!.last, changed(last)), `${name}: another float`);
    restored!.decoder.dispose();
    if (count === 5) {
      const meta = data.get('meta') as { last: Record<string, unknown> };
      const { digestWords: _, ...older } = meta.last;
      data.set('meta', { ...meta, last: { ...older, digest: fnv1a(last.floats) } });
      const again = await new Journal(storage, config).restore(attn);
      assert.ok(isRetryOf(again!.last, last), 'an older snapshot');
      assert.not.ok(isRetryOf(again!.last, changed(last)), 'an older snapshot: another float');
      again!.decoder.dispose();
    }
    decoder.dispose();
  }
});

test('the journal with snapshotTokens 1: a snapshot at every request, no log', async () => {
  const { storage, data } = memoryStorage();
  const journal = new Journal(storage, readConfig({ dim: 8, heads: 2, valueDim: 6, features: 12, seed: 3, snapshotTokens: 1 }));
  const decoder = attn.decoder({ heads: 2, valueDim: 6 });
  await journal.create('j', decoder);
  for (const input of requests(4)) await journal.commit('j', decoder, input, applyRequest(decoder, config, input));
  assert.is([...data.keys()].filter((k) => k.startsWith('log/')).length, 0);
  assert.is(journal.describe().snapshotPosition, decoder.position);
  decoder.dispose();
});

test('a changed byte in a record, a missing record, a record answering other bits: refused, never skipped', async () => {
  const logKeys = (data: Map<string, unknown>) => [...data.keys()].filter((k) => k.startsWith('log/')).sort();
  const cases: Array<[string, (data: Map<string, unknown>) => void, string, RegExp]> = [
    ['a changed byte', (data) => { (data.get(logKeys(data)[1]!) as Uint8Array)[40]! ^= 4; }, 'INVALID_LOG', /log record at position \d+ fails its checksum/],
    ['a missing record', (data) => { data.delete(logKeys(data)[0]!); }, 'INVALID_LOG', /a record at position \d+ where \d+ was expected/],
    ['a record cut short', (data) => { const key = logKeys(data)[0]!; data.set(key, (data.get(key) as Uint8Array).slice(0, 100)); }, 'INVALID_LOG', /fails its checksum|bytes for/],
    ['another answer digest (checksum made good)', (data) => {
      const key = logKeys(data)[0]!;
      const bytes = data.get(key) as Uint8Array;
      const view = new DataView(bytes.buffer);
      const input = requests(12).find((x) => x.position === view.getFloat64(8, true))!;
      data.set(key, encodeRecord(input, view.getUint32(20, true) ^ 1));
    }, 'REPLAY_MISMATCH', /answers other bits/],
  ];
  for (const [what, damage, code, pattern] of cases) {
    const { storage, data } = memoryStorage();
    const { decoder } = await journalOf(storage, requests(12));
    decoder.dispose();
    assert.ok(logKeys(data).length >= 2, what);
    damage(data);
    await refused(new Journal(storage, config).restore(attn), code, pattern);
  }
});

test.run();
