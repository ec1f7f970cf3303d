// SentencePiece unigram segmentation (Kudo 2018) over the model's vocabulary of [piece, log-probability]:
// the text is NFKC-normalized, spaces become '▁' and a '▁' is prepended (SentencePiece's convention), then
// the Viterbi path maximizes the sum of piece scores. A character no piece covers becomes the unknown id 0
// (consecutive unknowns merge into one), scored below every real piece. Ids 0–5 are reserved (unknown,
// <s>, </s>, extra ids) and never matched. This is the segmentation tfjs-models' USE tokenizer computes.
const SEPARATOR = '\u2581';
const RESERVED = 6;

export class Tokenizer {
  private readonly pieces = new Map<string, { id: number; score: number }>();
  private readonly longest: number;
  private readonly unknownScore: number;

  constructor(vocabulary: [string, number][]) {
    let longest = 1;
    let min = 0;
    vocabulary.forEach(([piece, score], id) => {
      if (id < RESERVED) return;
      this.pieces.set(piece, { id, score });
      longest = Math.max(longest, [...piece].length);
      min = Math.min(min, score);
    });
    this.longest = longest;
    this.unknownScore = min - 10;
  }

  encode(text: string): number[] {
    const chars = [...(SEPARATOR + text.normalize('NFKC').trim().replace(/\s+/g, ' ').replaceAll(' ', SEPARATOR))];
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1);
    const id = new Int32Array(n + 1);
    best[0] = 0;
    for (let i = 0; i < n; i++) {
      if (best[i] === -Infinity) continue;
      let piece = '';
      let matched = false;
      for (let len = 1; len <= this.longest && i + len <= n; len++) {
        piece += chars[i + len - 1];
        const hit = this.pieces.get(piece);
        if (!hit) continue;
        matched ||= len === 1;
        const score = best[i] + hit.score;
        if (score > best[i + len]) [best[i + len], from[i + len], id[i + len]] = [score, i, hit.id];
      }
      if (!matched && best[i] + this.unknownScore > best[i + 1]) [best[i + 1], from[i + 1], id[i + 1]] = [best[i] + this.unknownScore, i, 0];
    }
    const ids: number[] = [];
    for (let at = n; at > 0; at = from[at]) ids.push(id[at]);
    ids.reverse();
    return ids.filter((t, i) => t !== 0 || ids[i - 1] !== 0);
  }

  piece(id: number): string {
    for (const [piece, hit] of this.pieces) if (hit.id === id) return piece;
    return '<unk>';
  }
}
