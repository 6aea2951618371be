// Effect sizes with their confidence: a ratio of two means, and a slope (extra time per unit of
// work), each with a percentile-bootstrap interval over repetitions. Pure and deterministic: the
// resampling uses a seeded generator, so the same results give the same intervals (and exact tests).

/** A seeded 32-bit generator (mulberry32): uniform in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** The q-quantile (0..1) of sorted values, linearly interpolated. */
export function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface Interval {
  /** The estimate from all the data. */
  value: number;
  /** Bounds of the 95 % percentile-bootstrap interval. */
  low: number;
  high: number;
  /** Repetitions on each side. */
  n: [number, number];
  /** Whether the interval excludes `none` (1 for a ratio, 0 for a slope); null with fewer than 2 repetitions on a side. */
  significant: boolean | null;
}

export const BOOTSTRAP_RESAMPLES = 4000;

/**
 * f(mean of `a`, mean of `b`) with a 95 % interval: both samples are resampled with replacement,
 * independently, `resamples` times. `none` is the value meaning "no effect".
 */
function bootstrap(a: number[], b: number[], f: (ma: number, mb: number) => number, none: number, resamples: number, seed: number): Interval | null {
  if (!a.length || !b.length) return null;
  const value = f(mean(a), mean(b));
  if (!Number.isFinite(value)) return null;
  const n: [number, number] = [a.length, b.length];
  if (a.length < 2 || b.length < 2) return { value, low: value, high: value, n, significant: null };
  const rnd = seeded(seed);
  const draw = (xs: number[]) => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[Math.floor(rnd() * xs.length)]!;
    return s / xs.length;
  };
  const est: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const v = f(draw(a), draw(b));
    if (Number.isFinite(v)) est.push(v);
  }
  est.sort((x, y) => x - y);
  const low = quantile(est, 0.025);
  const high = quantile(est, 0.975);
  return { value, low, high, n, significant: !(low <= none && none <= high) };
}

/** mean(high) ÷ mean(low), e.g. latency at 10,000 Services over latency at 1; "no effect" = 1. */
export function ratioInterval(high: number[], low: number[], o: { resamples?: number; seed?: number } = {}): Interval | null {
  return bootstrap(high, low, (h, l) => h / l, 1, o.resamples ?? BOOTSTRAP_RESAMPLES, o.seed ?? 1);
}

/** (mean(high) − mean(low)) ÷ `per`, e.g. extra ns per rule walked or per Service; "no effect" = 0. */
export function slopeInterval(high: number[], low: number[], per: number, o: { resamples?: number; seed?: number } = {}): Interval | null {
  if (!(per > 0)) return null;
  return bootstrap(high, low, (h, l) => (h - l) / per, 0, o.resamples ?? BOOTSTRAP_RESAMPLES, o.seed ?? 2);
}

/** "2.41× [2.20–2.63]", with "n.s." when the interval holds the no-effect value. */
export function intervalText(i: Interval | null, digits = 2, unit = '×'): string {
  if (!i) return '-';
  const v = `${i.value.toFixed(digits)}${unit}`;
  if (i.significant === null) return `${v} (n=1)`;
  return `${v} [${i.low.toFixed(digits)}–${i.high.toFixed(digits)}]${i.significant ? '' : ' n.s.'}`;
}
