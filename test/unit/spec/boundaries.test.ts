// The exact edges of two cross-key rules of the spec, each a mutation the other tests let
// through (issue 12, "Tests that say what they did"; scripts/mutation-check.ts):
// - ab: concurrency equal to workload.requests is allowed, one more is refused (> not >=);
// - tuning.notrack is refused with every proxy mode that needs conntrack (iptables, nftables and
//   ipvs, each by name), and allowed with ebpf and none.
import test from 'ava';
import { SpecError } from '../../../lib/spec/errors.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';

const spec = (config: Record<string, unknown>) => specFromStackDoc('t', { config });
const problems = (config: Record<string, unknown>): string[] => {
  try {
    spec(config);
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  return [];
};
const ab = (requests: number, concurrency: number[]) => ({ 'netlab:workload': { tool: 'ab', requests, concurrency } });

test('ab: concurrency equal to workload.requests is allowed', (t) => {
  t.deepEqual(problems(ab(4, [1, 4])), []);
  t.deepEqual(problems(ab(1, [1])), [], 'one request, one at a time');
  const s = spec(ab(4, [4]));
  t.like(s.workload, { tool: 'ab', requests: 4, concurrency: [4] });
});

test('ab: concurrency one above workload.requests is refused, naming only the values above', (t) => {
  t.deepEqual(problems(ab(4, [4, 5])), ['netlab:workload.concurrency = [4,5]: concurrency must not exceed workload.requests (4); 5 does']);
  t.deepEqual(problems(ab(1, [1, 2, 3])), ['netlab:workload.concurrency = [1,2,3]: concurrency must not exceed workload.requests (1); 2, 3 does']);
});

const notrack = (mode: string) => ({ 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode }, 'netlab:tuning': { notrack: true } });

for (const mode of ['iptables', 'nftables', 'ipvs']) {
  test(`tuning.notrack is refused with proxy.mode ${mode}, which needs conntrack`, (t) => {
    t.deepEqual(problems(notrack(mode)), [
      `netlab:tuning.notrack = true: proxy.mode ${mode} needs conntrack (its DNAT is undone on the replies through conntrack), so NOTRACK would break the Services; set tuning.notrack: false, or use proxy.mode none or ebpf`,
    ]);
    t.deepEqual(problems({ ...notrack(mode), 'netlab:tuning': { notrack: false } }), [], 'without NOTRACK the mode is fine');
  });
}

for (const mode of ['ebpf', 'none']) {
  test(`tuning.notrack is allowed with proxy.mode ${mode}`, (t) => {
    t.deepEqual(problems(notrack(mode)), []);
    t.true(spec(notrack(mode)).tuning.notrack);
  });
}
