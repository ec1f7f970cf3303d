// Initializers, regularizers and constraints as tfjs-layers' own layers take them: an instance, an identifier
// ('glorotUniform', 'l2', …: the factory functions of tf.initializers / tf.regularizers / tf.constraints) or a
// serialized { className, config } (what getConfig writes and a Keras model.json holds, e.g. GlorotUniform),
// looked up in tfjs's class registry. Only public tfjs APIs are used.
import * as tf from '@tensorflow/tfjs-core';
import { constraints, initializers, regularizers } from '@tensorflow/tfjs-layers';
import { PerformerError } from '../arguments/errors.ts';
import { describe } from '../arguments/validate.ts';

type Instance = { getClassName(): string; getConfig(): tf.serialization.ConfigDict };
type Kind = 'initializer' | 'regularizer' | 'constraint';

const FACTORIES: Record<Kind, Record<string, unknown>> = {
  initializer: initializers as unknown as Record<string, unknown>,
  regularizer: regularizers as unknown as Record<string, unknown>,
  constraint: constraints as unknown as Record<string, unknown>,
};

/** Keras's snake_case identifiers ('glorot_uniform') as tfjs's camelCase ones. */
const camel = (s: string) => s.replace(/_+(\w|$)/g, (_, c: string) => c.toUpperCase());

/** The object `value` describes (undefined / null → `fallback`, which may be undefined). */
export function resolveSerializable<T>(kind: Kind, name: string, value: unknown, fallback?: string): T | undefined {
  if (value === undefined || value === null) return fallback === undefined ? undefined : resolveSerializable<T>(kind, name, fallback);
  if (typeof value === 'object' && typeof (value as Instance).getClassName === 'function') return value as T;
  if (typeof value === 'string') {
    const factory = FACTORIES[kind][camel(value)] ?? FACTORIES[kind][camel(value).replace(/^./, (c) => c.toLowerCase())];
    if (typeof factory === 'function') return (factory as (args: object) => T)({});
    return fromRegistry<T>(kind, name, value, {});
  }
  if (typeof value === 'object' && typeof (value as { className?: unknown }).className === 'string') {
    const { className, config } = value as { className: string; config?: tf.serialization.ConfigDict };
    return fromRegistry<T>(kind, name, className, config ?? {});
  }
  throw new PerformerError('INVALID_OPTION', `${name}: expected a tfjs ${kind}, its name or { className, config }, got ${describe(value)}`);
}

function fromRegistry<T>(kind: Kind, name: string, className: string, config: tf.serialization.ConfigDict): T {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new PerformerError('INVALID_OPTION', `${name}: unknown ${kind} '${className}'`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, { ...config }) as unknown as T;
}

/** { className, config } of an instance, or null (what tfjs-layers' getConfig writes). */
export function serialize(value: unknown): tf.serialization.ConfigDict | null {
  if (value === undefined || value === null) return null;
  const o = value as Instance;
  return { className: o.getClassName(), config: o.getConfig() };
}
