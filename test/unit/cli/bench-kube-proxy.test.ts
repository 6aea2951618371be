// bench-kube-proxy's table: per mode, the model's load against the real kube-proxy's programming,
// with kube-proxy's own sync account and the model-vs-real diff.
import test from 'ava';
import { type KubeProxyBenchRow, renderKubeProxyBench } from '../../../lib/cli/bench-kube-proxy.ts';

const program = (services: number, seconds: number, rules: number, syncs?: [number, number]) => ({
  services,
  seconds,
  rules,
  chains: 0,
  mapElements: 0,
  ...(syncs ? { syncs: syncs[0], syncSeconds: syncs[1] } : {}),
});

test('renderKubeProxyBench: one row per mode and writer; kube-proxy rows carry its syncs and the diff', (t) => {
  const rows: KubeProxyBenchRow[] = [
    {
      mode: 'iptables-nft',
      implementation: 'model',
      status: 'ok',
      programs: [program(1000, 0.5, 31005), program(10000, 9.25, 310005)],
      comparison: [],
      dir: '/r/m',
    },
    {
      mode: 'iptables-nft',
      implementation: 'kube-proxy',
      status: 'ok',
      programs: [program(1000, 12.5, 31006, [3, 1.25]), program(10000, 140, 310006, [9, 20.5])],
      comparison: [
        { services: 1000, mode: 'iptables', onlyModel: [], onlyReal: [], same: 31006 },
        { services: 10000, mode: 'iptables', onlyModel: ['-A X'], onlyReal: [], same: 310005 },
      ],
      dir: '/r/k',
    },
  ];
  const text = renderKubeProxyBench(rows, [1000, 10000]);
  const lines = text.split('\n').filter((l) => l.startsWith('│'));
  t.deepEqual(
    lines.map((l) =>
      l
        .split('│')
        .slice(1, -1)
        .map((c) => c.trim()),
    ),
    [
      [
        'mode',
        'rules written by',
        'programming s @1000',
        'programming s @10000',
        'kube-proxy syncs @1000',
        'kube-proxy syncs @10000',
        'rules @1000',
        'rules @10000',
        'model vs kube-proxy',
      ],
      ['iptables-nft', "netlab's model", '0.50', '9.25', '-', '-', '31005', '310005', ''],
      [
        'iptables-nft',
        'kube-proxy',
        '12.50',
        '140.00',
        '3 in 1.25 s',
        '9 in 20.50 s',
        '31006',
        '310006',
        "@1000: equal; @10000: 1 lines only in the model, 0 only in kube-proxy's",
      ],
    ],
  );
  t.regex(text, /kube-proxy syncs: its own metrics over that programming/);
});
