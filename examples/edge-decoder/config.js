// The deployment's decoder configuration: one JSON binding (DECODER_CONFIG), the same for every session.
// A session's stored state records the identity part (the fingerprint); a deployment whose identity
// differs refuses to load it (409 CONFIG_MISMATCH) rather than reset it.
import { ServiceError } from './protocol.js';

const KEYS = ['dim', 'heads', 'valueDim', 'features', 'seed', 'kernel', 'relaxedSimd', 'maxBodyBytes'];
/** What a saved session depends on (relaxedSimd and maxBodyBytes may change between deployments). */
const IDENTITY = ['dim', 'heads', 'valueDim', 'features', 'seed', 'kernel'];
/** Largest storage value written (Cloudflare's limit is 128 KiB per value; this leaves room for its framing). */
export const VALUE_BYTES = 120 * 1024;
const DEFAULT_MAX_BODY = 1024 * 1024;

/**
 * The configuration with its defaults: { dim, heads, valueDim (= dim), features (256), seed (0),
 * kernel ('softmax'), relaxedSimd (false: the baseline build, bit-identical everywhere), maxBodyBytes,
 * maxTokens } where maxTokens keeps one request's outputs within one storage value.
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
  };
  if (!Number.isSafeInteger(config.maxBodyBytes) || config.maxBodyBytes < 64) throw new ServiceError(500, 'CONFIG_INVALID', `maxBodyBytes must be an integer ≥ 64, got ${config.maxBodyBytes}`);
  config.maxTokens = Math.floor(VALUE_BYTES / (4 * config.heads * config.valueDim));
  if (!(config.maxTokens >= 1)) throw new ServiceError(500, 'CONFIG_INVALID', `one token's outputs (heads · valueDim floats) must fit ${VALUE_BYTES} bytes`);
  return config;
}

/** The identity of a configuration as a string: equal strings ⇔ the same decoder state layout and projection. */
export function fingerprint(config) {
  return JSON.stringify(Object.fromEntries(IDENTITY.map((key) => [key, config[key]])));
}

/** The configuration as GET /sessions/:id reports it. */
export function describeConfig(config) {
  return Object.fromEntries([...IDENTITY, 'relaxedSimd', 'maxBodyBytes', 'maxTokens'].map((key) => [key, config[key]]));
}
