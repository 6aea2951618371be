// The report's significance boundary (the "vs baseline" ratios of its figures table): a
// difference is significant only when the two ranges over repetitions (min … max) do not overlap.
// Ranges that touch, one's max equal to the other's min, overlap in that value: not significant.
// Issue 12: calling touching ranges significant survived the tests (scripts/mutation-check.ts).
import test from 'ava';
import { compare, spread } from '../../../lib/results/report/data.ts';

test('ranges that touch are not significant, from either side', (t) => {
  t.is(compare(spread([10, 15, 20]), spread([20, 25, 30]))!.significant, false, 'max of the run = min of the baseline');
  t.is(compare(spread([20, 25, 30]), spread([10, 15, 20]))!.significant, false, 'min of the run = max of the baseline');
  t.is(compare(spread([5, 5]), spread([5, 5]))!.significant, false, 'identical single-valued ranges');
});

test('ranges apart by any margin are significant, from either side', (t) => {
  t.is(compare(spread([10, 15, 19.5]), spread([20, 25, 30]))!.significant, true);
  t.is(compare(spread([20.5, 25, 30]), spread([10, 15, 20]))!.significant, true);
  t.is(compare(spread([6, 6]), spread([5, 5]))!.significant, true);
});

test('one repetition on either side: no range, significance unknown', (t) => {
  t.is(compare(spread([10]), spread([20, 21]))!.significant, null);
  t.is(compare(spread([10, 11]), spread([20]))!.significant, null);
});
