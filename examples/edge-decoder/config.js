// The deployment's decoder configuration: one JSON binding (DECODER_CONFIG), the same for every session.
// A session's stored state records the identity part (the fingerprint); a deployment whose identity
// differs refuses to load it (409 CONFIG_MISMATCH) rather than reset it.
import { ServiceError } from './protocol.js';

const KEYS = ['dim', 'heads', 'valueDim', 'features', 'seed', 'kernel', 'relaxedSimd', 'maxBodyBytes', 'snapshotTokens', 'snapshotLogBytes'];
/** What a saved session depends on (the other keys may change between deployments). */
const IDENTITY = ['dim', 'heads', 'valueDim', 'features', 'seed', 'kernel'];
/** Largest storage value written (Cloudflare's limit is 128 KiB per value; this leaves room for its framing). */
export const VALUE_BYTES = 120 * 1024;
/** Most values one put() writes atomically (Cloudflare's limit is 128 keys per put; one is the record). */
export const MAX_VALUES = 127;
const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
const DEFAULT_LOG_BYTES = 8 * 1024 * 1024;
/**
 * The default snapshot interval bounds the replay's work: tokens · heads · M · (dim + valueDim) ≤ 2^25
 * multiply-adds (256 tokens at dim 64, 8 heads, m 128: a restart reads and applies ~120 µs of each
 * record in workerd, the read about half of it).
 */
const REPLAY_WORK = 2 ** 25;
const MAX_SNAPSHOT_TOKENS = 4096;

/**
 * The configuration with its defaults: { dim, heads, valueDim (= dim), features (256), seed (0),
 * kernel ('softmax'), relaxedSimd (false: the baseline build, bit-identical everywhere), maxBodyBytes
 * (8 MiB), snapshotTokens and snapshotLogBytes (a snapshot when the log since the last one would reach
 * that many tokens or bytes; snapshotTokens 1 writes a snapshot at every request), and the derived
 * maxTokens (a step request) and maxPrefillTokens (a prefill request: its body within maxBodyBytes) }.
 * The decoder checks dim, features, kernel, seed and heads itself (PerformerError) when it is built.
 */
export function readConfig(value) {
  if (typeof value !== 'object' || value === null) throw new ServiceError(500, 'CONFIG_INVALID', 'the DECODER_CONFIG binding is missing or not a JSON object');
  const unknown = Object.keys(value).filter((key) => !KEYS.includes(key));
  if (unknown.length) throw new ServiceError(500, 'CONFIG_INVALID', `DECODER_CONFIG has unknown key(s) ${unknown.join(', ')}`);
  const config = {
    dim: value.dim,
    heads: value.heads ?? 1,
    valueDim: value.valueDim ?? value.dim,
    features: value.features ?? 256,
    seed: value.seed ?? 0,
    kernel: value.kernel ?? 'softmax',
    relaxedSimd: value.relaxedSimd ?? false,
    maxBodyBytes: value.maxBodyBytes ?? DEFAULT_MAX_BODY,
    snapshotTokens: value.snapshotTokens,
    snapshotLogBytes: value.snapshotLogBytes ?? DEFAULT_LOG_BYTES,
  };
  const featureRows = config.features * (['softmax-hyperbolic', 'softmax-trig'].includes(config.kernel) ? 2 : 1);
  const replayTokens = Math.floor(REPLAY_WORK / (config.heads * featureRows * (config.dim + config.valueDim))); // NaN for a bad shape, which the decoder refuses
  config.snapshotTokens ??= Number.isFinite(replayTokens) ? Math.max(1, Math.min(MAX_SNAPSHOT_TOKENS, replayTokens)) : MAX_SNAPSHOT_TOKENS;
  for (const [key, least] of [['maxBodyBytes', 64], ['snapshotTokens', 1], ['snapshotLogBytes', 0]]) {
    if (!Number.isSafeInteger(config[key]) || config[key] < least) throw new ServiceError(500, 'CONFIG_INVALID', `${key} must be an integer ≥ ${least}, got ${config[key]}`);
  }
  config.maxTokens = Math.floor(VALUE_BYTES / (4 * config.heads * config.valueDim));
  if (!(config.maxTokens >= 1)) throw new ServiceError(500, 'CONFIG_INVALID', `one token's outputs (heads · valueDim floats) must fit ${VALUE_BYTES} bytes`);
  config.maxPrefillTokens = Math.floor((config.maxBodyBytes - 16) / (4 * config.heads * (2 * config.dim + config.valueDim)));
  return config;
}

/** The identity of a configuration as a string: equal strings ⇔ the same decoder state layout and projection. */
export function fingerprint(config) {
  return JSON.stringify(Object.fromEntries(IDENTITY.map((key) => [key, config[key]])));
}

/** The configuration as GET /sessions/:id reports it. */
export function describeConfig(config) {
  return Object.fromEntries([...IDENTITY, 'relaxedSimd', 'maxBodyBytes', 'snapshotTokens', 'snapshotLogBytes', 'maxTokens', 'maxPrefillTokens'].map((key) => [key, config[key]]));
}
