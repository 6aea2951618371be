// Effect sizes with their confidence (issue 15): the bootstrap intervals are deterministic, hold
// the estimate, narrow with more repetitions, and say "not significant" exactly when they reach
// the no-effect value.
import test from 'ava';
import { intervalText, mean, quantile, ratioInterval, seeded, slopeInterval } from '../../../lib/results/stats.ts';

test('the seeded generator is deterministic and uniform enough', (t) => {
  const a = seeded(7);
  const b = seeded(7);
  const xs = Array.from({ length: 10_000 }, () => a());
  t.deepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => b()),
  );
  t.true(xs.every((x) => x >= 0 && x < 1));
  t.true(Math.abs(mean(xs) - 0.5) < 0.01);
});

test('quantile interpolates between sorted values', (t) => {
  t.is(quantile([1, 2, 3, 4, 5], 0.5), 3);
  t.is(quantile([1, 2, 3, 4], 0.5), 2.5);
  t.is(quantile([10, 20], 0.975), 19.75);
});

test('a clear ratio: the interval holds the estimate, excludes 1, and is the same every time', (t) => {
  const high = [0.98, 1.02, 1.0, 0.97, 1.03];
  const low = [0.4, 0.41, 0.39, 0.4, 0.4];
  const r = ratioInterval(high, low)!;
  t.is(r.value, 1.0 / 0.4);
  t.true(r.low < r.value && r.value < r.high);
  t.true(r.low > 2.3 && r.high < 2.7, JSON.stringify(r));
  t.true(r.significant!);
  t.deepEqual(ratioInterval(high, low), r);
  t.regex(intervalText(r), /^2\.50× \[2\.\d\d–2\.\d\d\]$/);
});

test('overlapping samples: the interval holds 1 and is marked n.s.', (t) => {
  const r = ratioInterval([0.4, 0.43, 0.38, 0.41, 0.39], [0.41, 0.38, 0.42, 0.4, 0.39])!;
  t.true(r.low < 1 && r.high > 1);
  t.false(r.significant!);
  t.regex(intervalText(r), / n\.s\.$/);
});

test('the significance boundary is the interval touching the no-effect value', (t) => {
  // Constant samples: every resample gives the same value, so the interval is one point.
  t.true(ratioInterval([2, 2], [1, 1])!.significant!);
  t.false(ratioInterval([1, 1], [1, 1])!.significant!, 'an interval of exactly [1, 1] holds 1');
  t.false(slopeInterval([5, 5], [5, 5], 10)!.significant!, 'a slope of exactly 0 is no effect');
  t.true(slopeInterval([6, 6], [5, 5], 10)!.significant!);
});

test('one repetition: the estimate alone, significance unknown', (t) => {
  const r = ratioInterval([1], [0.5])!;
  t.deepEqual(r, { value: 2, low: 2, high: 2, n: [1, 1], significant: null });
  t.is(intervalText(r), '2.00× (n=1)');
  t.is(ratioInterval([], [1]), null);
});

test('slope: extra per unit, with its interval', (t) => {
  // 10,000 rules more cost 0.2 ms = 200,000 ns: 20 ns per rule.
  const s = slopeInterval([300_000, 310_000, 290_000], [100_000, 105_000, 95_000], 10_000)!;
  t.is(s.value, 20);
  t.true(s.low < 20 && s.high > 20 && s.low > 15 && s.high < 25, JSON.stringify(s));
  t.is(slopeInterval([1], [1], 0), null);
});

test('more repetitions narrow the interval', (t) => {
  const rnd = seeded(3);
  const noisy = (m: number, n: number) => Array.from({ length: n }, () => m * (0.9 + 0.2 * rnd()));
  const few = ratioInterval(noisy(1, 3), noisy(0.5, 3))!;
  const many = ratioInterval(noisy(1, 30), noisy(0.5, 30))!;
  t.true(many.high - many.low < few.high - few.low);
});
