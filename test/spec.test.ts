import test from 'ava';
import { listStackNames, loadStack, parseStackText } from '../lib/stackfile.ts';
import { SpecError, specFromStackDoc } from '../lib/spec.ts';

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
    network: { underlayCidr: '10.77.0.0/24', underlayMtu: 1500, podCidr: '10.244.0.0/16' },
    server: { responseBytes: [350], workers: 1, keepaliveRequests: 100 },
    workload: { tool: 'wrk', durationSeconds: 10, connections: [1], threads: 1, keepalive: [true], timeoutSeconds: 5 },
    tuning: { profile: 'none', irqAffinity: false, rps: false, xps: false, rfs: false, sysctls: {}, schedMigrationCostNs: null, tuned: null, notrack: false, pinning: false, optional: [] },
    repetitions: 1,
    warmupSeconds: 1,
  });
});

test('sweep values: a scalar becomes a list, repeats are dropped', (t) => {
  const s = specFromStackDoc('x', { config: { 'netlab:workload': { tool: 'ab', concurrency: [1, 4, 1], keepalive: [false, true] }, 'netlab:server': { responseBytes: 4096 } } });
  t.deepEqual(s.server.responseBytes, [4096]);
  t.is(s.workload.tool, 'ab');
  if (s.workload.tool === 'ab') {
    t.deepEqual(s.workload.concurrency, [1, 4]);
    t.deepEqual(s.workload.keepalive, [false, true]);
  }
});

test('unknown keys are named with what is allowed', (t) => {
  t.deepEqual(bad({ 'netlab:datapth': 'host' }), [
    'config: unknown key "datapth"; allowed here: description, target, datapath, aws, network, server, proxy, workload, tuning, repetitions, warmupSeconds',
  ]);
  t.deepEqual(bad({ 'netlab:server': { respBytes: 1 } }), ['netlab:server: unknown key "respBytes"; allowed here: responseBytes, workers, keepaliveRequests']);
  t.deepEqual(bad({ 'other:key': 1 }), ['config key "other:key": expected "netlab:<key>" (or a pulumi/aws/command/kubernetes provider key)']);
  t.notThrows(() => specFromStackDoc('x', { config: { 'aws:region': 'eu-west-1' } }));
});

test('wrong types name the key, the value and what is allowed', (t) => {
  t.deepEqual(bad({ 'netlab:repetitions': 'three' }), ['netlab:repetitions = "three": expected a whole number from 1 to 100']);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'ab', keepalive: 'yes' } }), ['netlab:workload.keepalive = "yes": expected true or false or a non-empty list of them']);
  t.deepEqual(bad({ 'netlab:network': { podCidr: '10.244.0.0' } }), ['netlab:network.podCidr = "10.244.0.0": expected an IPv4 CIDR such as 10.244.0.0/16 (octets 0-255, prefix 0-32)']);
});

test('out-of-range values', (t) => {
  t.deepEqual(bad({ 'netlab:network': { underlayMtu: 20000 } }), ['netlab:network.underlayMtu = 20000: expected a whole number from 1280 to 9000']);
  t.deepEqual(bad({ 'netlab:server': { responseBytes: [350, 100] } }), ['netlab:server.responseBytes.1 = 100: expected a whole number from 230 to 1048576']);
  t.deepEqual(bad({ 'netlab:server': { responseBytes: 1224 } }), ["netlab:server.responseBytes = 1224: no body size gives exactly this total with nginx's headers; use one byte more"]);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'wrk', durationSeconds: 0.5 } }), ['netlab:workload.durationSeconds = 0.5: expected a whole number from 1 to 600']);
  t.deepEqual(bad({ 'netlab:network': { podCidr: '10.244.0.0/33' } }), ['netlab:network.podCidr = "10.244.0.0/33": expected an IPv4 CIDR such as 10.244.0.0/16 (octets 0-255, prefix 0-32)']);
});

test('enums list the allowed values', (t) => {
  const dps = 'expected one of: host, hostgw, vxlan, macvlan, ipvlan (local); host, hostgw, vxlan, aws-vpc, ipvlan, calico-ipip, calico-vxlan, calico-direct, cilium (aws)';
  t.deepEqual(bad({ 'netlab:datapath': 'calico' }), [`netlab:datapath = "calico": ${dps}`]);
  t.deepEqual(bad({ 'netlab:target': 'gcp' }), ['netlab:target = "gcp": expected one of: local, aws']);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'siege' } }), ['netlab:workload.tool = "siege": expected an object whose "tool" is one of: ab, wrk, rps, conn-reuse, tcpkali']);
});

test('impossible combinations are refused', (t) => {
  t.deepEqual(bad({ 'netlab:workload': { tool: 'wrk', connections: [1, 8], threads: 4 } }), [
    'netlab:workload.connections = [1,8]: every connection count must be >= workload.threads (4); 1 is lower',
  ]);
  t.deepEqual(bad({ 'netlab:workload': { tool: 'ab', requests: 10, concurrency: [1, 50] } }), [
    'netlab:workload.concurrency = [1,50]: concurrency must not exceed workload.requests (10); 50 does',
  ]);
  t.deepEqual(bad({ 'netlab:network': { underlayCidr: '10.244.3.0/24' } }), ['netlab:network.podCidr = "10.244.0.0/16": must not overlap network.underlayCidr (10.244.3.0/24)']);
  t.deepEqual(bad({ 'netlab:network': { podCidr: '10.1.0.0/24' } }), ['netlab:network.podCidr = "10.1.0.0/24": prefix must be /23 or shorter: each of the two hosts gets a /24']);
  t.deepEqual(bad({ 'netlab:datapath': 'macvlan', 'netlab:network': { underlayCidr: '10.77.0.0/28' } }), [
    'netlab:network.underlayCidr = "10.77.0.0/28": macvlan puts pods on the underlay: prefix must be /27 or shorter',
  ]);
});

test('every problem is reported at once, with the file named', (t) => {
  const e = t.throws(() => parseStackText('s', 'config:\n  netlab:datapath: nope\n  netlab:repetitions: 0\n', 'stacks/Pulumi.s.yaml'), { instanceOf: SpecError });
  t.is(e!.message, 'stacks/Pulumi.s.yaml: invalid experiment spec\n  - netlab:datapath = "nope": expected one of: host, hostgw, vxlan, macvlan, ipvlan (local); host, hostgw, vxlan, aws-vpc, ipvlan, calico-ipip, calico-vxlan, calico-direct, cilium (aws)\n  - netlab:repetitions = 0: expected a whole number from 1 to 100');
});

test('bad YAML, duplicate keys, bad documents and stack names', (t) => {
  t.regex(t.throws(() => parseStackText('s', 'config: [', 'f'))!.message, /not valid YAML/);
  t.regex(t.throws(() => parseStackText('s', 'config:\n  netlab:datapath: host\n  netlab:datapath: vxlan\n', 'f'))!.message, /not valid YAML: Map keys must be unique/);
  t.regex(t.throws(() => parseStackText('s', '- a\n', 'f'))!.message, /expected a YAML mapping with a "config:" key/);
  t.regex(t.throws(() => parseStackText('s', 'confg: {}\n', 'f'))!.message, /top-level key "confg": unknown/);
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
    mode: 'iptables', services: [1000], backendsPerService: 10, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12',
    target: 'last', iptablesLayout: 'current', ipvs: { scheduler: 'rr', connReuseMode: [1] },
  });
  t.is(specFromStackDoc('x', { config: {} }).proxy, undefined);
  t.deepEqual(bad({ 'netlab:proxy': { mode: 'userspace' } }), ['netlab:proxy.mode = "userspace": expected one of: none, iptables, nftables, ipvs, ebpf']);
  t.deepEqual(bad({ 'netlab:proxy': { services: [1, 40000] } }), ['netlab:proxy.services.1 = 40000: expected a whole number from 1 to 30000']);
  t.deepEqual(bad({ 'netlab:proxy': { target: 'first' } }), ['netlab:proxy.target = "first": expected one of: fixed, last, random']);
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
  t.deepEqual(bad({ 'netlab:workload': { tool: 'conn-reuse' } }), ['netlab:workload.tool = "conn-reuse": conn-reuse drains an IPVS real server: it needs proxy.mode ipvs']);
  t.deepEqual(bad({ 'netlab:proxy': { mode: 'nftables' }, 'netlab:workload': { tool: 'conn-reuse' } }), ['netlab:workload.tool = "conn-reuse": conn-reuse drains an IPVS real server: it needs proxy.mode ipvs']);
});

test('tuning: a profile fills what the stack does not give; null drops a profile sysctl', (t) => {
  const s = specFromStackDoc('x', { config: { 'netlab:tuning': { profile: 'study', xps: false, sysctls: { 'net.ipv4.tcp_fin_timeout': 30, 'fs.file-max': null, 'net.core.somaxconn': '8192' } } } });
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
  t.regex(bad({ 'netlab:tuning': { optional: ['rsp'] } })[0]!, /netlab:tuning\.optional\.0 = "rsp": not a setting of this stack; allowed: irqAffinity, rps, xps/);
  t.regex(bad({ 'netlab:tuning': { sysctls: { 'kernel.sched_migration_cost_ns': 5 } } })[0]!, /set it with tuning\.schedMigrationCostNs/);
  t.regex(bad({ 'netlab:tuning': { irqs: true } })[0]!, /netlab:tuning: unknown key "irqs"; allowed here: profile, irqAffinity/);
});

test('tuning: NOTRACK is refused with a proxy mode that needs conntrack, allowed with ebpf', (t) => {
  const [p] = bad({ 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'iptables' }, 'netlab:tuning': { profile: 'study' } });
  t.is(p, 'netlab:tuning.notrack = true: proxy.mode iptables needs conntrack (its DNAT is undone on the replies through conntrack), so NOTRACK would break the Services; set tuning.notrack: false (profile study turns it on), or use proxy.mode none or ebpf');
  t.notThrows(() => specFromStackDoc('x', { config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'iptables' }, 'netlab:tuning': { profile: 'study', notrack: false } } }));
  t.notThrows(() => specFromStackDoc('x', { config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'ebpf' }, 'netlab:tuning': { profile: 'study' } } }));
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
