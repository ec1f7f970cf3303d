// MultiHeadAttention: Keras's layer (and tfjs-layers' unexported one), interface and weights, for inputs
// [batch, seq, dim], with the attention computed by this package's kernels: exact softmax (default), FAVOR+
// or hybrid (an exact window + FAVOR+). The head projections are matMuls (heads.ts); the attention is the
// favorAttention / exactAttention ops of performer-wasm/tfjs, or, where a call needs the T × S weights
// (attention scores, a general mask, dropout in training: exact mode only), tfjs ops (dense-attention.ts).
//
// Weights, in Keras's names, layout and order: query/kernel [D, H, K], query/bias [H, K], key/kernel
// [Dk, H, K], key/bias, value/kernel [Dv, H, V], value/bias [H, V], attention_output/kernel [H, V, …O],
// attention_output/bias [O…]; then, in favor and hybrid modes, favor/projection [H, m, K] (head h's W, acting
// on x·K^(-1/4) as FavorAttention's), favor/log_scale [H] (hybrid: each head's β) and, with centerKeys
// 'fitted', favor/key_center [H, K].
import * as tf from '@tensorflow/tfjs-core';
import { layers, type LayerVariable, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { PerformerError } from '../arguments/errors.ts';
import { describe } from '../arguments/validate.ts';
import { FavorAttention } from '../favor/attention.ts';
import { exactAttention, favorAttention, type FavorOpConfig } from '../tfjs.ts';
import { denseAttention } from './dense-attention.ts';
import { mergeHeads, splitHeads } from './heads.ts';
import { hasEmptyRow, mergedMask, planMasks, type MaskInputs } from './masks.ts';
import { checkLayerArgs, type LayerOptions, type MultiHeadAttentionArgs } from './options.ts';
import { recorders } from './recording.ts';
import { isReference, resolveReference } from './references.ts';
import { resolveSerializable, serialize } from './serializables.ts';

type Shape = (number | null)[];
type AnyTensor = tf.Tensor | SymbolicTensor;

/** The call arguments (Keras's). */
export interface AttentionCallArgs {
  value: AnyTensor;
  key?: AnyTensor;
  /** Boolean [B, T, S] (or [B, 1, S]): 1 = query i may attend to key j. */
  attentionMask?: AnyTensor;
  useCausalMask?: boolean;
  training?: boolean;
}

const CALL_KEYS = ['value', 'key', 'attentionMask', 'useCausalMask', 'training', 'mask', 'returnAttentionScores'];

interface HeadWeights { kernel: LayerVariable; bias: LayerVariable | null }

export class MultiHeadAttention extends layers.Layer {
  static className = 'MultiHeadAttention';
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly useBias: boolean;
  /** The options as checked (attention mode, FAVOR+ options): see MultiHeadAttentionArgs. */
  get options(): Readonly<LayerOptions> { return this.opts; }
  private opts: LayerOptions;
  private raw: MultiHeadAttentionArgs;
  private readonly init: { kernel: unknown; bias: unknown; kernelRegularizer: unknown; biasRegularizer: unknown; kernelConstraint: unknown; biasConstraint: unknown };
  private shapes: { query: Shape; key: Shape; value: Shape } | null = null;
  private inBuild = false;
  private dense: { query: HeadWeights; key: HeadWeights; value: HeadWeights; output: HeadWeights } | null = null;
  private favorWeights: { projection: LayerVariable | null; logScale: LayerVariable | null; keyCenter: LayerVariable | null } | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    const opts = checkLayerArgs(args);
    const base = Object.fromEntries(['name', 'trainable', 'dtype', 'inputShape', 'batchInputShape', 'batchSize', 'inputDType']
      .filter((k) => (args as unknown as Record<string, unknown>)[k] != null).map((k) => [k, (args as unknown as Record<string, unknown>)[k]]));
    super(base);
    this.opts = opts;
    this.raw = { ...args };
    this.numHeads = opts.numHeads;
    this.keyDim = opts.keyDim;
    this.valueDim = opts.valueDim;
    this.useBias = opts.useBias;
    this.supportsMasking = true;
    this.init = {
      kernel: args.kernelInitializer, bias: args.biasInitializer, kernelRegularizer: args.kernelRegularizer,
      biasRegularizer: args.biasRegularizer, kernelConstraint: args.kernelConstraint, biasConstraint: args.biasConstraint,
    };
    // checked now, so that a bad initializer fails before any work
    for (const [kind, key] of [['initializer', 'kernel'], ['initializer', 'bias'], ['regularizer', 'kernelRegularizer'], ['regularizer', 'biasRegularizer'],
      ['constraint', 'kernelConstraint'], ['constraint', 'biasConstraint']] as const) resolveSerializable(kind, key, this.init[key]);
    resolveSerializable('regularizer', 'activityRegularizer', args.activityRegularizer);
  }

  /**
   * Keras's calling convention: layer.apply(query, { value, key?, attentionMask?, useCausalMask?, training? }); also
   * layer.apply([query, value, key?, attentionMask?], { useCausalMask?, training? }) (how the node is saved).
   */
  override apply(inputs: AnyTensor | AnyTensor[], kwargs?: Record<string, unknown>): any {
    const k = { ...(kwargs ?? {}) };
    for (const key of Object.keys(k)) {
      if (!CALL_KEYS.includes(key)) throw new PerformerError('UNKNOWN_OPTION', `${this.name}.apply: unknown argument '${key}' (known: ${CALL_KEYS.join(', ')})`);
    }
    if (k.returnAttentionScores) {
      throw new PerformerError('INVALID_OPTION', `${this.name}: returnAttentionScores is not a call argument here: use callAndReturnAttentionScores (exact mode)`);
    }
    delete k.returnAttentionScores;
    let list: AnyTensor[];
    if (Array.isArray(inputs)) {
      if (k.value !== undefined || k.key !== undefined || k.attentionMask !== undefined) {
        throw new PerformerError('INVALID_OPTION', `${this.name}.apply: pass value, key and attentionMask either in the inputs list or as arguments, not both`);
      }
      list = inputs;
    } else {
      const query = inputs;
      const resolve = (name: 'value' | 'key' | 'attentionMask') => {
        const x = k[name];
        delete k[name];
        if (x === undefined || x === null) return undefined;
        if (isReference(x)) return resolveReference(x, query as never, name) as unknown as AnyTensor;
        return x as AnyTensor;
      };
      const value = resolve('value');
      if (value === undefined) throw new PerformerError('INVALID_OPTION', `${this.name}.apply: the value argument is required: apply(query, { value })`);
      const key = resolve('key');
      const mask = resolve('attentionMask');
      list = [query, value, ...(key || mask ? [key ?? value] : []), ...(mask ? [mask] : [])];
    }
    if (list.length < 2 || list.length > 4) throw new PerformerError('INVALID_LENGTH', `${this.name}.apply: expected [query, value, key?, attentionMask?], got ${list.length} inputs`);
    return super.apply(list as never, k as never);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = inputShape as Shape[];
    this.inBuild = true;
    try {
      this.buildFromSignature(shapes[0], shapes[1], shapes[2] ?? null);
    } finally {
      this.inBuild = false;
    }
  }

  /** Creates the weights for these input shapes (Keras's buildFromSignature; fromConfig calls it with the saved shapes). */
  buildFromSignature(queryShape: Shape, valueShape: Shape, keyShape?: Shape | null): void {
    if (this.dense) return;
    for (const [name, s] of [['query', queryShape], ['value', valueShape], ['key', keyShape ?? valueShape]] as const) {
      if (!Array.isArray(s) || s.length !== 3 || typeof s[2] !== 'number') {
        throw new PerformerError('INVALID_LENGTH', `${this.name}: ${name} must have shape [batch, seq, dim] (attention over the sequence axis), got ${describe(s)} ${JSON.stringify(s)}`);
      }
    }
    const key = keyShape ?? valueShape;
    this.shapes = { query: [...queryShape], key: [...key], value: [...valueShape] };
    const { numHeads: H, keyDim: K, valueDim: V } = this.opts;
    const out = this.opts.outputShape ?? [queryShape[2] as number];
    this.dense = {
      query: this.headWeights('query', [queryShape[2] as number, H, K], [H, K]),
      key: this.headWeights('key', [key[2] as number, H, K], [H, K]),
      value: this.headWeights('value', [valueShape[2] as number, H, V], [H, V]),
      output: this.headWeights('attention_output', [H, V, ...out], out),
    };
    this.addFavorWeights();
    this.built = true;
  }

  /** Weight names: inside apply()'s build tfjs prefixes the layer's name; elsewhere (fromConfig, performerize) we do. */
  private scoped(name: string): string {
    return this.inBuild ? name : `${this.name}/${name}`;
  }

  private headWeights(name: string, kernelShape: number[], biasShape: number[]): HeadWeights {
    const i = this.init;
    const kernel = this.addWeight(this.scoped(`${name}/kernel`), kernelShape, 'float32', resolveSerializable('initializer', 'kernelInitializer', i.kernel, 'glorotUniform'),
      resolveSerializable('regularizer', 'kernelRegularizer', i.kernelRegularizer), true, resolveSerializable('constraint', 'kernelConstraint', i.kernelConstraint));
    const bias = this.useBias
      ? this.addWeight(this.scoped(`${name}/bias`), biasShape, 'float32', resolveSerializable('initializer', 'biasInitializer', i.bias, 'zeros'),
        resolveSerializable('regularizer', 'biasRegularizer', i.biasRegularizer), true, resolveSerializable('constraint', 'biasConstraint', i.biasConstraint))
      : null;
    return { kernel, bias };
  }

  /** favor/projection (each head's starting draw: seed + h), favor/log_scale (hybrid), favor/key_center ('fitted' centres). */
  private addFavorWeights(): void {
    const f = this.opts.favor;
    if (!f || this.favorWeights) return;
    const { numHeads: H, keyDim: K } = this.opts;
    const constant = (values: Float32Array, shape: number[]) => ({ apply: () => tf.tensor(values, shape, 'float32'), getClassName: () => 'Constant', getConfig: () => ({}) });
    let projection: LayerVariable | null = null;
    if (f.projection !== 'none') {
      const draws = new Float32Array(H * f.features * K);
      for (let h = 0; h < H; h++) {
        const w = new FavorAttention({ dim: K, features: f.features, kernel: f.kernel, projection: f.projection, seed: (f.seed + h) >>> 0 }).projection;
        draws.set(w, h * f.features * K);
      }
      projection = this.addWeight(this.scoped('favor/projection'), [H, f.features, K], 'float32', constant(draws, [H, f.features, K]) as never, undefined, f.trainableProjection);
    }
    const logScale = f.window > 0
      ? this.addWeight(this.scoped('favor/log_scale'), [H], 'float32', constant(new Float32Array(H).fill(f.estimateLogScale), [H]) as never, undefined, false)
      : null;
    const keyCenter = f.centerKeys === 'fitted'
      ? this.addWeight(this.scoped('favor/key_center'), [H, K], 'float32', constant(new Float32Array(H * K), [H, K]) as never, undefined, false)
      : null;
    this.favorWeights = { projection, logScale, keyCenter };
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const query = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [...query.slice(0, -1), ...(this.opts.outputShape ?? [query[query.length - 1]])];
  }

  /** The output carries no mask (as Keras's layer). */
  override computeMask(): tf.Tensor {
    return null as unknown as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return this.attend(inputs as tf.Tensor[], kwargs, false)[0];
  }

  /** Like apply() on tensors, and also returns the attention weights [B, H, T, S]: exact mode only. */
  callAndReturnAttentionScores(query: tf.Tensor, args: AttentionCallArgs): [tf.Tensor, tf.Tensor4D] {
    if (this.opts.attention !== 'exact') {
      throw new PerformerError('INVALID_OPTION', `${this.name}: callAndReturnAttentionScores needs attention 'exact': ${this.opts.attention} attention never forms the T × S weights`);
    }
    const { value, key, attentionMask, ...rest } = args as unknown as Record<string, tf.Tensor>;
    if (!this.dense) this.buildFromSignature(query.shape, value.shape, key?.shape);
    const list = [query, value, ...(key || attentionMask ? [key ?? value] : []), ...(attentionMask ? [attentionMask] : [])];
    return this.attend(list, rest, true) as [tf.Tensor, tf.Tensor4D];
  }

  private attend(inputs: tf.Tensor[], kwargs: Record<string, unknown>, wantScores: boolean): [tf.Tensor, tf.Tensor4D?] {
    const [query, value, key = value, attentionMask] = inputs;
    const masks = Array.isArray(kwargs.mask) ? kwargs.mask as (tf.Tensor | null)[] : [];
    const training = kwargs.training === true;
    const causal = kwargs.useCausalMask === true;
    const d = this.dense!;
    const m: MaskInputs = {
      attentionMask, causal, batch: query.shape[0], queries: query.shape[1]!, keys: value.shape[1]!,
      queryMask: masks[0] ?? query.kerasMask ?? undefined, valueMask: masks[1] ?? value.kerasMask ?? undefined,
    };
    const plan = planMasks(m);
    const dropout = training ? this.opts.dropout : 0;
    const exact = this.opts.attention === 'exact';
    if (!exact && plan.kind === 'dense') {
      throw new PerformerError('INVALID_OPTION', `${this.name}: ${this.opts.attention} attention takes a key padding mask and causal attention with T = S only, ` +
        `because FAVOR+ never forms the T × S weights a general mask would act on; this call has ${plan.reason}`);
    }
    return tf.tidy(() => {
      const q = splitHeads(query, d.query.kernel.read(), d.query.bias?.read() ?? null);
      const k = splitHeads(key, d.key.kernel.read(), d.key.bias?.read() ?? null);
      const v = splitHeads(value, d.value.kernel.read(), d.value.bias?.read() ?? null);
      const keyMask = plan.kind === 'kernel' ? plan.keyMask : undefined;
      recorders.get(this)?.({ q, k, v, keyMask, causal });
      let heads: tf.Tensor4D;
      let scores: tf.Tensor4D | undefined;
      const kernelOk = plan.kind === 'kernel' && !(keyMask && exact && hasEmptyRow(keyMask, m.batch, m.keys));
      if (exact && (wantScores || dropout > 0 || !kernelOk)) {
        [heads, scores] = denseAttention(q, k, v, mergedMask(m), dropout);
      } else if (exact) {
        heads = exactAttention(q, k, v, { causal, keyMask });
      } else {
        heads = this.favorHeads(q, k, v, causal, keyMask);
      }
      return [mergeHeads(heads, d.output.kernel.read(), d.output.bias?.read() ?? null), scores] as [tf.Tensor, tf.Tensor4D?];
    }) as unknown as [tf.Tensor, tf.Tensor4D?];
  }

  /** FAVOR+ (or hybrid) per head: head h with its projection, β and key centre. */
  private favorHeads(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, causal: boolean, keyMask: Uint8Array | undefined): tf.Tensor4D {
    const f = this.opts.favor!;
    const w = this.favorWeights!;
    const [B, H, T, K] = q.shape;
    const S = k.shape[2];
    const V = v.shape[3];
    const betas = w.logScale?.read().dataSync();
    const centers = w.keyCenter?.read().dataSync() as Float32Array | undefined;
    const outs: tf.Tensor[] = [];
    let fixed: Float32Array | undefined;
    for (let h = 0; h < H; h++) {
      const config: FavorOpConfig = {
        kernel: f.kernel, causal, ...(f.projection === 'none' ? { projection: 'none' } : { features: f.features }),
        ...(f.window ? { window: f.window, estimateLogScale: betas![h] } : {}),
        ...(centers ? { centerKeys: centers.slice(h * K, (h + 1) * K) } : f.centerKeys === true ? { centerKeys: true } : {}),
      };
      // a trainable projection is an input of the op (its gradient is dW); a fixed one is part of the configuration
      const projection = w.projection && f.trainableProjection ? tf.reshape(tf.slice(w.projection.read(), [h, 0, 0], [1, f.features, K]), [f.features, K]) : undefined;
      if (w.projection && !projection) config.projection = (fixed ??= w.projection.read().dataSync() as Float32Array).slice(h * f.features * K, (h + 1) * f.features * K);
      const one = (x: tf.Tensor4D, len: number, dim: number) => tf.slice(x, [0, h, 0, 0], [B, 1, len, dim]);
      outs.push(favorAttention(one(q, T, K), one(k, S, K), one(v, S, V), config, { keyMask, ...(projection ? { projection } : {}) }));
    }
    return (H === 1 ? outs[0] : tf.concat(outs, 1)) as tf.Tensor4D;
  }

  /**
   * Switches the attention (performerize uses it): the mode and FAVOR+ options of `args` (merged into this
   * layer's), and per head the projection [m·K], β and key centre. Adds the FAVOR+ weights on first use.
   */
  switchAttention(args: Partial<MultiHeadAttentionArgs>, heads?: { projection?: Float32Array; logScale?: number; keyCenter?: Float32Array }[]): void {
    if (!this.dense) throw new PerformerError('INVALID_OPTION', `${this.name}: switchAttention needs a built layer (call it once, or buildFromSignature)`);
    const merged = { ...this.raw, ...args } as MultiHeadAttentionArgs;
    for (const key of Object.keys(args) as (keyof MultiHeadAttentionArgs)[]) if (args[key] === undefined) delete merged[key];
    const opts = checkLayerArgs(merged);
    const old = this.favorWeights;
    const rebuild = !old || !opts.favor || !this.opts.favor || old.projection?.shape[1] !== opts.favor.features || this.opts.favor.window !== opts.favor.window
      || (opts.favor.centerKeys === 'fitted') !== !!old.keyCenter || opts.favor.projection !== this.opts.favor.projection;
    if (rebuild && old) this.dropFavorWeights();
    this.raw = merged;
    this.opts = opts;
    if (rebuild) this.addFavorWeights();
    const w = this.favorWeights;
    if (w?.projection) w.projection.trainable = opts.favor!.trainableProjection;
    heads?.forEach((head, h) => {
      const set = (variable: LayerVariable | null | undefined, values: ArrayLike<number> | undefined, size: number) => {
        if (!variable || values === undefined) return;
        if (values.length !== size) throw new PerformerError('INVALID_LENGTH', `switchAttention: head ${h} has ${values.length} values for ${variable.name}, expected ${size}`);
        const all = Float32Array.from(variable.read().dataSync());
        all.set(values, h * size);
        variable.write(tf.tensor(all, variable.shape as number[], 'float32'));
      };
      set(w?.projection, head.projection, opts.favor!.features * this.keyDim);
      set(w?.logScale, head.logScale === undefined ? undefined : [head.logScale], 1);
      set(w?.keyCenter, head.keyCenter, this.keyDim);
    });
  }

  private dropFavorWeights(): void {
    const mine = new Set(Object.values(this.favorWeights!).filter(Boolean) as LayerVariable[]);
    mine.forEach((w) => w.dispose());
    const self = this as unknown as { _trainableWeights: LayerVariable[]; _nonTrainableWeights: LayerVariable[]; _addedWeightNames: string[] };
    self._trainableWeights = self._trainableWeights.filter((w) => !mine.has(w));
    self._nonTrainableWeights = self._nonTrainableWeights.filter((w) => !mine.has(w));
    self._addedWeightNames = self._addedWeightNames.filter((n) => !n.includes('favor/'));
    this.favorWeights = null;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const o = this.opts;
    const r = this.raw;
    const config: tf.serialization.ConfigDict = {
      numHeads: o.numHeads, keyDim: o.keyDim, valueDim: o.valueDim, dropout: o.dropout, useBias: o.useBias,
      outputShape: (r.outputShape ?? null) as never, attentionAxes: o.attentionAxes,
      kernelInitializer: serialize(resolveSerializable('initializer', 'kernelInitializer', r.kernelInitializer, 'glorotUniform')),
      biasInitializer: serialize(resolveSerializable('initializer', 'biasInitializer', r.biasInitializer, 'zeros')),
      kernelRegularizer: serialize(resolveSerializable('regularizer', 'kernelRegularizer', r.kernelRegularizer)),
      biasRegularizer: serialize(resolveSerializable('regularizer', 'biasRegularizer', r.biasRegularizer)),
      activityRegularizer: serialize(resolveSerializable('regularizer', 'activityRegularizer', r.activityRegularizer)),
      kernelConstraint: serialize(resolveSerializable('constraint', 'kernelConstraint', r.kernelConstraint)),
      biasConstraint: serialize(resolveSerializable('constraint', 'biasConstraint', r.biasConstraint)),
      queryShape: this.shapes?.query ?? null, keyShape: this.shapes?.key ?? null, valueShape: this.shapes?.value ?? null,
    } as tf.serialization.ConfigDict;
    const f = o.favor;
    if (f) {
      // the mode and FAVOR+ options; nothing in exact mode, whose config is Keras's
      Object.assign(config, { attention: o.attention, features: f.features, kernel: f.kernel, projection: f.projection, seed: f.seed,
        ...(f.window ? { window: f.window } : {}), centerKeys: f.centerKeys,
        estimateLogScale: f.estimateLogScale, trainableProjection: f.trainableProjection });
    }
    return { ...config, ...super.getConfig() };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const { customObjects: _, ...args } = config; // added by tfjs's deserializer
    const layer = new cls(args) as unknown as MultiHeadAttention;
    const { queryShape, keyShape, valueShape } = config as Record<string, Shape | null>;
    if (queryShape && valueShape) layer.buildFromSignature(queryShape, valueShape, keyShape);
    return layer as unknown as T;
  }
}

/** The same layer under the name 'PerformerAttention' (its own entry in tfjs's class registry). */
export class PerformerAttention extends MultiHeadAttention {
  static override className = 'PerformerAttention';
}
