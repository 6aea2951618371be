import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listStackNames, loadStack, parseStackText, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import { integerConfigKeys, withProjectTypes } from '../../../lib/spec/project-config.ts';
import { SpecError } from '../../../lib/spec/errors.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';

const bad = (config: Record<string, unknown>, name = 'x') => {
  try {
    specFromStackDoc(name, { config });
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  throw new Error('expected the spec to be refused');
};

test('defaults are documented values', (t) => {
  const s = specFromStackDoc('x', { config: {} });
  t.deepEqual(s, {
    name: 'x',
    description: '',
    target: 'local',
    datapath: 'host',
    datapathImplementation: 'model',
    network: { underlayCidr: '10.77.0.0/24', underlayMtu: 1500, podCidr: '10.244.0.0/16' },
    server: { responseBytes: [350], workers: 1, keepaliveRequests: 100 },
    workload: { tool: 'wrk', durationSeconds: 10, connections: [1], threads: 1, keepalive: [true], timeoutSeconds: 5 },
    tuning: {
      profile: 'none',
      irqAffinity: false,
      rps: false,
      xps: false,
      rfs: false,
      sysctls: {},
      schedMigrationCostNs: null,
      tuned: null,
      notrack: false,
      pinning: false,
      optional: [],
    },
    repetitions: 1,
    warmupSeconds: 1,
  });
});

test('sweep values: a scalar becomes a list, repeats are dropped', (t) => {
  const s = specFromStackDoc('x', {
    config: { 'netlab:workload': { tool: 'ab', concurrency: [1, 4, 1], keepalive: [false, true] }, 'netlab:server': { responseBytes: 4096 } },
  });
  t.deepEqual(s.server.responseBytes, [4096]);
  t.is(s.workload.tool, 'ab');
  if (s.workload.tool === 'ab') {
    t.deepEqual(s.workload.concurrency, [1, 4]);
    t.deepEqual(s.workload.keepalive, [false, true]);
  }
});

test('unknown keys are named with what is allowed', (t) => {
  t.deepEqual(bad({ 'netlab:datapth': 'host' }), [
    'config: unknown key "datapth"; allowed here: description, target, datapath, datapathImplementation, aws, ssh, vm, network, server, proxy, workload, tuning, repetitions, warmupSeconds',
  ]);
  t.deepEqual(bad({ 'netlab:server': { respBytes: 1 } }), ['netlab:server: unknown key "respBytes"; allowed here: responseBytes, workers, keepaliveRequests']);
  t.deepEqual(bad({ 'other:key': 1 }), ['config key "other:key": expected "netlab:<key>" (or a pulumi/aws/command/kubernetes provider key)']);
  t.notThrows(() => specFromStackDoc('x', { config: { 'aws:region': 'eu-west-1' } }));
});

test('wrong types name the key, the value and what is allowed', (t) => {
  t.deepEqual(bad({ 'netlab:repetitions': 'three' }), ['netlab:repetitions = "three": expected a whole number from 1 to 100']);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'ab', keepalive: 'yes' } }), [
    'netlab:workload.keepalive = "yes": expected true or false or a non-empty list of them',
  ]);
  t.deepEqual(bad({ 'netlab:network': { podCidr: '10.244.0.0' } }), [
    'netlab:network.podCidr = "10.244.0.0": expected an IPv4 CIDR such as 10.244.0.0/16 (octets 0-255, prefix 0-32)',
  ]);
});

test('out-of-range values', (t) => {
  t.deepEqual(bad({ 'netlab:network': { underlayMtu: 20000 } }), ['netlab:network.underlayMtu = 20000: expected a whole number from 1280 to 9000']);
  t.deepEqual(bad({ 'netlab:server': { responseBytes: [350, 100] } }), ['netlab:server.responseBytes.1 = 100: expected a whole number from 230 to 1048576']);
  t.deepEqual(bad({ 'netlab:server': { responseBytes: 1224 } }), [
    "netlab:server.responseBytes = 1224: no body size gives exactly this total with nginx's headers; use one byte more",
  ]);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'wrk', durationSeconds: 0.5 } }), [
    'netlab:workload.durationSeconds = 0.5: expected a whole number from 1 to 600',
  ]);
  t.deepEqual(bad({ 'netlab:network': { podCidr: '10.244.0.0/33' } }), [
    'netlab:network.podCidr = "10.244.0.0/33": expected an IPv4 CIDR such as 10.244.0.0/16 (octets 0-255, prefix 0-32)',
  ]);
});

test('enums list the allowed values', (t) => {
  const dps =
    'expected one of: host, hostgw, vxlan, macvlan, ipvlan (local); host, hostgw, vxlan, aws-vpc, ipvlan, calico-ipip, calico-vxlan, calico-direct, cilium (aws)';
  t.deepEqual(bad({ 'netlab:datapath': 'calico' }), [`netlab:datapath = "calico": ${dps}`]);
  t.deepEqual(bad({ 'netlab:target': 'gcp' }), ['netlab:target = "gcp": expected one of: local, aws, ssh']);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'siege' } }), [
    'netlab:workload.tool = "siege": expected an object whose "tool" is one of: ab, wrk, rps, conn-reuse, tcpkali',
  ]);
});

test('impossible combinations are refused', (t) => {
  t.deepEqual(bad({ 'netlab:workload': { tool: 'wrk', connections: [1, 8], threads: 4 } }), [
    'netlab:workload.connections = [1,8]: every connection count must be >= workload.threads (4); 1 is lower',
  ]);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'ab', requests: 10, concurrency: [1, 50] } }), [
    'netlab:workload.concurrency = [1,50]: concurrency must not exceed workload.requests (10); 50 does',
  ]);
  t.deepEqual(bad({ 'netlab:network': { underlayCidr: '10.244.3.0/24' } }), [
    'netlab:network.podCidr = "10.244.0.0/16": must not overlap network.underlayCidr (10.244.3.0/24)',
  ]);
  t.deepEqual(bad({ 'netlab:network': { podCidr: '10.1.0.0/24' } }), [
    'netlab:network.podCidr = "10.1.0.0/24": prefix must be /23 or shorter: each of the two hosts gets a /24',
  ]);
  t.deepEqual(bad({ 'netlab:datapath': 'macvlan', 'netlab:network': { underlayCidr: '10.77.0.0/28' } }), [
    'netlab:network.underlayCidr = "10.77.0.0/28": macvlan puts pods on the underlay: prefix must be /27 or shorter',
  ]);
});

test('every problem is reported at once, with the file named', (t) => {
  const e = t.throws(() => parseStackText('s', 'config:\n  netlab:datapath: nope\n  netlab:repetitions: 0\n', 'stacks/Pulumi.s.yaml'), {
    instanceOf: SpecError,
  });
  t.is(
    e!.message,
    'stacks/Pulumi.s.yaml: invalid experiment spec\n  - netlab:datapath = "nope": expected one of: host, hostgw, vxlan, macvlan, ipvlan (local); host, hostgw, vxlan, aws-vpc, ipvlan, calico-ipip, calico-vxlan, calico-direct, cilium (aws)\n  - netlab:repetitions = 0: expected a whole number from 1 to 100',
  );
});

test('bad YAML, duplicate keys, bad documents and stack names', (t) => {
  t.regex(t.throws(() => parseStackText('s', 'config: [', 'f'))!.message, /not valid YAML/);
  t.regex(
    t.throws(() => parseStackText('s', 'config:\n  netlab:datapath: host\n  netlab:datapath: vxlan\n', 'f'))!.message,
    /not valid YAML: Map keys must be unique/,
  );
  t.regex(t.throws(() => parseStackText('s', '- a\n', 'f'))!.message, /expected a YAML mapping with a "config:" key/);
  t.regex(t.throws(() => parseStackText('s', 'config: {}\nconfg: {}\n', 'f'))!.message, /top-level key "confg": unknown/);
  t.regex(t.throws(() => specFromStackDoc('Bad_Name', { config: {} }))!.message, /stack name "Bad_Name": expected 1-40 characters/);
});

test('a missing stack lists the known ones', (t) => {
  t.regex(t.throws(() => loadStack('no-such-stack'))!.message, /no stack file .*Pulumi\.no-such-stack\.yaml; known stacks: .*local-host/);
});

test('every shipped stack validates', (t) => {
  const names = listStackNames();
  t.true(names.length >= 6);
  for (const n of names) t.notThrows(() => loadStack(n), n);
  for (const dp of ['host', 'hostgw', 'vxlan', 'macvlan', 'ipvlan'] as const) t.is(loadStack(`local-${dp}`).datapath, dp);
});

test('the local datapath stacks share one workload, so they compare', (t) => {
  const specs = ['host', 'hostgw', 'vxlan', 'macvlan', 'ipvlan'].map((dp) => loadStack(`local-${dp}`));
  for (const s of specs) {
    t.deepEqual(s.workload, specs[0]!.workload);
    t.deepEqual(s.server, specs[0]!.server);
    t.is(s.repetitions, specs[0]!.repetitions);
  }
});

test('proxy: defaults, and bad proxy input names the key, the value and what is allowed', (t) => {
  const s = specFromStackDoc('x', { config: { 'netlab:proxy': { mode: 'iptables', services: 1000 } } });
  t.deepEqual(s.proxy, {
    mode: 'iptables',
    services: [1000],
    backendsPerService: 10,
    serviceCidr: '10.96.0.0/12',
    backendCidr: '10.128.0.0/12',
    target: 'last',
    iptablesLayout: 'current',
    implementation: 'model',
    writer: 'auto',
    syncTimeoutSeconds: 300,
    iptablesBackend: 'nft',
    ipvs: { scheduler: 'rr', connReuseMode: [1] },
  });
  t.is(specFromStackDoc('x', { config: {} }).proxy, undefined);
  t.deepEqual(bad({ 'netlab:proxy': { mode: 'userspace' } }), ['netlab:proxy.mode = "userspace": expected one of: none, iptables, nftables, ipvs, ebpf']);
  t.deepEqual(bad({ 'netlab:proxy': { services: [1, 40000] } }), ['netlab:proxy.services.1 = 40000: expected a whole number from 1 to 30000']);
  t.deepEqual(bad({ 'netlab:proxy': { target: 'first' } }), ['netlab:proxy.target = "first": expected one of: fixed, last, random']);
  t.deepEqual(bad({ 'netlab:proxy': { syncTimeoutSeconds: 1 } }), ['netlab:proxy.syncTimeoutSeconds = 1: expected a whole number from 5 to 3600']);
  t.deepEqual(bad({ 'netlab:proxy': { ipvs: { connReuseMode: 2 } } }), ['netlab:proxy.ipvs.connReuseMode = 2: expected a whole number from 0 to 1']);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'rps', rate: 0 } }), ['netlab:workload.rate = 0: expected a whole number from 1 to 100000']);
});

test('proxy: impossible combinations are refused with the reason', (t) => {
  t.deepEqual(bad({ 'netlab:datapath': 'macvlan', 'netlab:proxy': { mode: 'iptables' } }), [
    'netlab:proxy.mode = "iptables": macvlan pods send straight onto the wire, past the host namespace\'s netfilter, so host-side kube-proxy rules never see them; with datapath macvlan use proxy.mode none or ebpf',
  ]);
  t.deepEqual(bad({ 'netlab:proxy': { target: 'random' }, 'netlab:workload': { tool: 'wrk' } }), [
    'netlab:proxy.target = "random": random needs workload.tool rps (it picks a Service per connection); wrk calls one URL: use fixed or last',
  ]);
  t.deepEqual(bad({ 'netlab:proxy': { serviceCidr: '10.244.0.0/16' } }), ['netlab:proxy.serviceCidr = "10.244.0.0/16": must not overlap network.podCidr']);
  t.deepEqual(bad({ 'netlab:proxy': { backendCidr: '10.96.0.0/24' } }), ['netlab:proxy.backendCidr = "10.96.0.0/24": must not overlap proxy.serviceCidr']);
  t.deepEqual(bad({ 'netlab:proxy': { services: 300, serviceCidr: '10.96.0.0/24' } }), [
    'netlab:proxy.services = [300]: 300 Services do not fit in proxy.serviceCidr 10.96.0.0/24 (253 usable addresses)',
  ]);
  t.deepEqual(bad({ 'netlab:proxy': { services: 30000, backendsPerService: 100 } }), [
    'netlab:proxy.backendsPerService = 100: 30000 Services × 100 backends do not fit in proxy.backendCidr 10.128.0.0/12 (1048574 addresses)',
  ]);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'conn-reuse' } }), [
    'netlab:workload.tool = "conn-reuse": conn-reuse drains an IPVS real server: it needs proxy.mode ipvs',
  ]);
  t.deepEqual(bad({ 'netlab:proxy': { mode: 'nftables' }, 'netlab:workload': { tool: 'conn-reuse' } }), [
    'netlab:workload.tool = "conn-reuse": conn-reuse drains an IPVS real server: it needs proxy.mode ipvs',
  ]);
});

test('tuning: a profile fills what the stack does not give; null drops a profile sysctl', (t) => {
  const s = specFromStackDoc('x', {
    config: {
      'netlab:tuning': { profile: 'study', xps: false, sysctls: { 'net.ipv4.tcp_fin_timeout': 30, 'fs.file-max': null, 'net.core.somaxconn': '8192' } },
    },
  });
  t.is(s.tuning.profile, 'study');
  t.true(s.tuning.rps);
  t.false(s.tuning.xps);
  t.is(s.tuning.sysctls['net.ipv4.tcp_fin_timeout'], '30');
  t.is(s.tuning.sysctls['net.core.somaxconn'], '8192');
  t.false('fs.file-max' in s.tuning.sysctls);
  t.is(s.tuning.schedMigrationCostNs, 10_000_000);
  t.deepEqual(s.tuning.optional, ['kernel.sched_migration_cost_ns']);
  t.is(specFromStackDoc('x', { config: { 'netlab:tuning': { rps: true } } }).tuning.xps, false);
});

test('tuning: bad input names the key, the value and what is allowed', (t) => {
  t.deepEqual(bad({ 'netlab:tuning': { profile: 'fast' } }), ['netlab:tuning.profile = "fast": expected one of: none, study']);
  t.deepEqual(bad({ 'netlab:tuning': { rfs: 'yes' } }), ['netlab:tuning.rfs = "yes": expected true or false']);
  t.regex(bad({ 'netlab:tuning': { sysctls: { 'net.ipv4 tcp': 1 } } })[0]!, /expected a sysctl name such as net\.ipv4\.tcp_fin_timeout/);
  t.regex(
    bad({ 'netlab:tuning': { optional: ['rsp'] } })[0]!,
    /netlab:tuning\.optional\.0 = "rsp": not a setting of this stack; allowed: irqAffinity, rps, xps/,
  );
  t.regex(bad({ 'netlab:tuning': { sysctls: { 'kernel.sched_migration_cost_ns': 5 } } })[0]!, /set it with tuning\.schedMigrationCostNs/);
  t.regex(bad({ 'netlab:tuning': { irqs: true } })[0]!, /netlab:tuning: unknown key "irqs"; allowed here: profile, irqAffinity/);
});

test('tuning: NOTRACK is refused with a proxy mode that needs conntrack, allowed with ebpf', (t) => {
  const [p] = bad({ 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'iptables' }, 'netlab:tuning': { profile: 'study' } });
  t.is(
    p,
    'netlab:tuning.notrack = true: proxy.mode iptables needs conntrack (its DNAT is undone on the replies through conntrack), so NOTRACK would break the Services; set tuning.notrack: false (profile study turns it on), or use proxy.mode none or ebpf',
  );
  t.notThrows(() =>
    specFromStackDoc('x', {
      config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'iptables' }, 'netlab:tuning': { profile: 'study', notrack: false } },
    }),
  );
  t.notThrows(() =>
    specFromStackDoc('x', { config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'ebpf' }, 'netlab:tuning': { profile: 'study' } } }),
  );
});

test('the tuning pair differs only in its tuning', (t) => {
  const a = loadStack('local-untuned');
  const b = loadStack('local-tuned');
  const { tuning: ta, name: _a, description: _da, ...ra } = a;
  const { tuning: tb, name: _b, description: _db, ...rb } = b;
  t.deepEqual(ra, rb);
  t.is(ta.profile, 'none');
  t.is(tb.profile, 'study');
});

// ---------------------------------------------------------------------------------------------
// Issue 19 "Reliability", items 10, 12 and 13: hostile or mistaken values and documents.

const refusedText = (text: string) => {
  try {
    parseStackText('s', text, 'stacks/Pulumi.s.yaml');
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  throw new Error('expected the stack file to be refused');
};

test('a single out-of-range sweep value is refused as its list item would be, never with a crash', (t) => {
  t.deepEqual(bad({ 'netlab:proxy': { mode: 'iptables', services: 30001 } }), ['netlab:proxy.services = 30001: expected a whole number from 1 to 30000']);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'wrk', connections: 20000 } }), [
    'netlab:workload.connections = 20000: expected a whole number from 1 to 10000',
  ]);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'ab', concurrency: 5000 } }), ['netlab:workload.concurrency = 5000: expected a whole number from 1 to 1000']);
  // Every sweep key: the scalar is reported exactly as the same value at index 1 of a list.
  const sweeps: [string, (v: unknown) => Record<string, unknown>, number, number][] = [
    ['server.responseBytes', (v) => ({ 'netlab:server': { responseBytes: v } }), 350, 100],
    ['workload.connections', (v) => ({ 'netlab:workload': { tool: 'wrk', threads: 4, connections: v } }), 4, 0],
    ['workload.concurrency', (v) => ({ 'netlab:workload': { tool: 'ab', requests: 10, concurrency: v } }), 1, 5000],
    ['workload.rate', (v) => ({ 'netlab:workload': { tool: 'rps', rate: v } }), 1, 0],
    ['workload.rate', (v) => ({ 'netlab:workload': { tool: 'tcpkali', rate: v } }), 1, 5_000_001],
    ['proxy.services', (v) => ({ 'netlab:proxy': { mode: 'iptables', services: v } }), 1, 0],
    ['proxy.services', (v) => ({ 'netlab:proxy': { services: v }, 'netlab:workload': { tool: 'conn-reuse' } }), 1, 30001],
    ['proxy.ipvs.connReuseMode', (v) => ({ 'netlab:proxy': { mode: 'ipvs', ipvs: { connReuseMode: v } } }), 1, 2],
  ];
  for (const [key, config, good, out] of sweeps)
    t.deepEqual(
      bad(config(out)),
      bad(config([good, out])).map((p) => p.replace(`netlab:${key}.1 =`, `netlab:${key} =`)),
      key,
    );
  // Checks across keys wait until every key is valid, so a bad key elsewhere hides them.
  t.deepEqual(bad({ 'netlab:workload': { tool: 'wrk', connections: [1, 8], threads: 4 }, 'netlab:repetitions': 0 }), [
    'netlab:repetitions = 0: expected a whole number from 1 to 100',
  ]);
});

test('no value at any key of any shipped stack crashes validation: it is accepted or refused with a SpecError', (t) => {
  const hostile: unknown[] = [0, -1, 0.5, 1e9, NaN, Infinity, Symbol('1e400'), '', 'x', true, null, [], [0], [1e9], ['x'], {}];
  const paths = (v: unknown, path: (string | number)[] = []): (string | number)[][] => [
    ...(path.length ? [path] : []),
    ...(v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => paths(x, [...path, Array.isArray(v) ? Number(k) : k])) : []),
  ];
  let cases = 0;
  for (const name of listStackNames().filter((n) => /^(local|aws)-/.test(n))) {
    const { name: _, ...spec } = loadStack(name);
    for (const path of paths(spec))
      for (const value of hostile) {
        const config: Record<string, unknown> = structuredClone(spec);
        let at: Record<string | number, unknown> = config;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
        at[path[path.length - 1]!] = value;
        const doc = { config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`netlab:${k}`, v])) };
        cases++;
        try {
          specFromStackDoc('x', doc);
        } catch (e) {
          if (!(e instanceof SpecError)) t.fail(`${name}: ${path.join('.')} = ${String(value)}: ${(e as Error).stack}`);
        }
      }
  }
  t.true(cases > 10_000, `${cases} cases`);
});

test('description: one line of printable text; the refusal shows the value escaped', (t) => {
  const allowed = 'expected one line of printable text, at most 200 characters (no line breaks, tabs, escape codes or other control characters)';
  t.deepEqual(bad({ 'netlab:description': 'two\nlines' }), [`netlab:description = "two\\nlines": ${allowed}`]);
  t.deepEqual(bad({ 'netlab:description': 'red \x1b[31mtext\x1b[0m' }), [`netlab:description = "red \\u001b[31mtext\\u001b[0m": ${allowed}`]);
  t.deepEqual(bad({ 'netlab:description': 'a\ttab' }), [`netlab:description = "a\\ttab": ${allowed}`]);
  t.deepEqual(bad({ 'netlab:description': 'bidi \u202e and C1 \u009b' }), [`netlab:description = "bidi \\u202e and C1 \\u009b": ${allowed}`]);
  t.deepEqual(bad({ 'netlab:description': 'x'.repeat(201) }), [`netlab:description = "${'x'.repeat(76)}...: ${allowed}`]);
  t.is(specFromStackDoc('x', { config: { 'netlab:description': 'flannel vxlan – 350 B, café, ≥ 1 ✓' } }).description, 'flannel vxlan – 350 B, café, ≥ 1 ✓');
  // Defence in depth: no refusal carries a raw control character, wherever it comes from.
  const e = t.throws(() => specFromStackDoc('x', { config: { 'netlab:\u009b31m\x1b[2J': 1, 'x\u2028:y': 2 } }), { instanceOf: SpecError });
  t.false(/[\p{C}\u2028\u2029]/u.test(e!.message.replaceAll('\n', '')), e!.message);
  t.regex(e!.message, /unknown key "\\u009b31m\\u001b\[2J"/);
});

test('.nan, .inf and 1e400 are refused naming the key, and shown as written', (t) => {
  t.deepEqual(
    refusedText(
      'config:\n  netlab:repetitions: .nan\n  netlab:warmupSeconds: 1e400\n  netlab:network: {underlayMtu: -.inf}\n  netlab:workload: {tool: wrk, connections: [1, .inf]}\n  netlab:description: .NaN\n',
    ),
    [
      'netlab:description = .NaN: expected one line of printable text, at most 200 characters (no line breaks, tabs, escape codes or other control characters)',
      'netlab:network.underlayMtu = -.inf: expected a whole number from 1280 to 9000',
      'netlab:workload.connections = [1,.inf]: expected a connection count from 1 to 10000 or a non-empty list of them',
      'netlab:repetitions = .nan: expected a whole number from 1 to 100',
      'netlab:warmupSeconds = 1e400: expected a whole number from 0 to 60',
    ],
  );
  t.deepEqual(bad({ 'netlab:repetitions': NaN, 'netlab:warmupSeconds': -Infinity }), [
    'netlab:repetitions = .nan: expected a whole number from 1 to 100',
    'netlab:warmupSeconds = -.inf: expected a whole number from 0 to 60',
  ]);
});

test('every duplicate key is reported with its line', (t) => {
  t.deepEqual(
    refusedText(
      'config:\n  netlab:datapath: host\n  netlab:datapath: vxlan\n  netlab:server:\n    workers: 1\n    workers: 2\n  netlab:datapath: macvlan\nconfig: {}\n',
    ),
    [
      'not valid YAML: Map keys must be unique; "config" at line 8 repeats line 1',
      'not valid YAML: Map keys must be unique; "netlab:datapath" at line 3 repeats line 2',
      'not valid YAML: Map keys must be unique; "netlab:datapath" at line 7 repeats line 2',
      'not valid YAML: Map keys must be unique; "workers" at line 6 repeats line 5',
    ],
  );
});

test('an empty stack file is refused, saying what it must hold', (t) => {
  const empty = 'the file is empty; a stack file holds a "config:" mapping of "netlab:<key>": value (config: {} for every default)';
  for (const text of ['', '\n \n', '# only a comment\n', '---\n']) t.deepEqual(refusedText(text), [empty], JSON.stringify(text));
  t.deepEqual(refusedText('config:\n'), ['config: expected a mapping of "netlab:<key>": value (config: {} for every default)']);
  t.is(parseStackText('s', 'config: {}\n', 'f').datapath, 'host');
});

test('a document that is not a stack file is refused without quoting any of it, even when its YAML is broken', (t) => {
  const secret = 'hunter2-SECRET';
  const notStack = /^not a stack file: expected a YAML mapping with a "config:" key \(Pulumi stack config format\); nothing of the file is shown$/;
  const brokenNotStack = /^not valid YAML \([A-Z_]+\) at line \d+, column \d+; no "config:" mapping was found, so nothing of the file is shown$/;
  const texts = [
    `root:$6$${secret}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`, // /etc/shadow: one plain scalar
    `password: ${secret}\n`,
    `- ${secret}\n`,
    `${secret}\n`,
    `a: b: ${secret}\n`,
    `password: ${secret}\nx: !${secret} "\\q${secret}"\n`,
    `password: [${secret}\n`,
  ];
  for (const text of texts) {
    const problems = refusedText(text);
    t.false(problems.join('\n').includes('hunter2'), problems.join('\n'));
    for (const p of problems) t.regex(p, problems.length === 1 && !p.startsWith('not valid') ? notStack : brokenNotStack);
  }
  // A stack file's own YAML errors do quote it, so they can be fixed.
  t.deepEqual(refusedText('config:\n  netlab:datapath: host\n bad: [\n'), [
    'not valid YAML: All mapping items must start at the same column at line 3, column 1',
    'not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 4, column 1',
  ]);
});

test('Pulumi\'s string form of the integer keys Pulumi.yaml types (pulumi stack init writes "3") is read as the number', (t) => {
  // The keys come from Pulumi.yaml's `config:` types, not from a list in the code.
  t.deepEqual([...integerConfigKeys()].sort(), ['repetitions', 'warmupSeconds']);
  const text = (r: string, w: string) => `config:\n  netlab:repetitions: ${r}\n  netlab:warmupSeconds: ${w}\nencryptionsalt: v1:x:v1:y:z\n`;
  const s = parseStackText('s', text('"3"', '"0"'), 'stacks/Pulumi.s.yaml');
  t.is(s.repetitions, 3);
  t.is(s.warmupSeconds, 0);
  t.deepEqual(s, parseStackText('s', text('3', '0'), 'stacks/Pulumi.s.yaml'));
  // Only a whole number as JSON would read it; anything else is refused by the spec as before.
  for (const v of ['"03"', '"3.5"', '" 3"', '"three"', '""', '"1e1"']) {
    const e = t.throws(() => parseStackText('s', text(v, '1'), 'f'), { instanceOf: SpecError }, v);
    t.regex(e!.message, /netlab:repetitions = ".*": expected a whole number from 1 to 100/, v);
  }
  // Out of range stays out of range; other keys and nested numbers are not touched.
  t.regex(t.throws(() => parseStackText('s', text('"0"', '1'), 'f'))!.message, /netlab:repetitions = 0: expected a whole number from 1 to 100/);
  t.regex(
    t.throws(() => parseStackText('s', 'config:\n  netlab:workload:\n    tool: wrk\n    threads: "2"\n', 'f'))!.message,
    /netlab:workload\.threads = "2"/,
  );
  t.deepEqual(withProjectTypes({ config: { 'netlab:repetitions': '2', 'netlab:description': '5' } }), {
    config: { 'netlab:repetitions': 2, 'netlab:description': '5' },
  });
  t.is(withProjectTypes(null), null);
});

test('the shipped stack files read the same after `pulumi stack init` rewrote them (strings for the integer keys)', (t) => {
  const text = readFileSync(join(PROJECT_DIR, 'stacks', 'Pulumi.local-host.yaml'), 'utf8');
  const rewritten = text.replace(/^(\s*netlab:(?:repetitions|warmupSeconds): )(\d+)[ \t]*$/gm, '$1"$2"') + 'encryptionsalt: v1:bmzpS7pigRM=:v1:x:y\n';
  t.not(rewritten, text);
  t.deepEqual(parseStackText('local-host', rewritten, 'f'), loadStack('local-host'));
});
