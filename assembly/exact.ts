// PLACEHOLDER exact attention (to be replaced by a tiled online-softmax SIMD kernel).

export function exact_scratch_bytes(Lq: i32, Lk: i32, d: i32, dv: i32): usize {
  return <usize>Lk << 2;
}

export function exact_attention(q: usize, k: usize, v: usize, out: usize, Lq: i32, Lk: i32, d: i32, dv: i32,
                                scale: f32, causal: i32, mask: usize, scratch: usize): void {
  for (let i = 0; i < Lq; i++) {
    const last = causal ? min(Lk - 1, i + Lk - Lq) : Lk - 1;
    let mx: f32 = -Infinity;
    for (let j = 0; j <= last; j++) {
      let s: f32 = 0;
      for (let t = 0; t < d; t++) s += load<f32>(q + (<usize>(i * d + t) << 2)) * load<f32>(k + (<usize>(j * d + t) << 2));
      s *= scale;
      if (mask && !load<u8>(mask + j)) s = -Infinity;
      store<f32>(scratch + (<usize>j << 2), s);
      mx = max(mx, s);
    }
    let sum: f32 = 0;
    for (let j = 0; j <= last; j++) {
      const s = load<f32>(scratch + (<usize>j << 2));
      const e: f32 = s == -Infinity ? 0 : Mathf.exp(s - mx);
      store<f32>(scratch + (<usize>j << 2), e);
      sum += e;
    }
    for (let t = 0; t < dv; t++) {
      let acc: f32 = 0;
      for (let j = 0; j <= last; j++) acc += load<f32>(scratch + (<usize>j << 2)) * load<f32>(v + (<usize>(j * dv + t) << 2));
      store<f32>(out + (<usize>(i * dv + t) << 2), sum > 0 ? acc / sum : 0);
    }
  }
}
