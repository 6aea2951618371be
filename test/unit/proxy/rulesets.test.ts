import test from 'ava';
import { buildFleet, nftEndpointChain, nftServiceChain, sepChain, svcChain, type ServicePort } from '../../../lib/proxy/fleet.ts';
import { iptablesRuleset, rulesWalked } from '../../../lib/proxy/iptables/ruleset.ts';
import { nftablesRuleset } from '../../../lib/proxy/nftables/ruleset.ts';
import { ebpfCompile, ebpfLoadScript, ebpfMaps, multiarchInclude } from '../../../lib/proxy/ebpf/program.ts';
import { ipvsRuleset, ipvsSysctls } from '../../../lib/proxy/ipvs/ruleset.ts';
import { proxyProvider } from '../../../lib/proxy/index.ts';
import { fleetOf, serviceTarget } from '../../../lib/proxy/target.ts';
import { requirements } from '../../../lib/local/features.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';

// The Service of kube-proxy's own proxier tests: ns1/svc1:p80 at 172.30.0.41:80.
const svc1 = (ips: string[]): ServicePort => ({
  namespace: 'ns1',
  name: 'svc1',
  portName: 'p80',
  protocol: 'tcp',
  clusterIP: '172.30.0.41',
  port: 80,
  endpoints: ips.map((ip) => ({ ip, port: 80 })),
});

test('chain names hash exactly as kube-proxy does (its own test vectors)', (t) => {
  const s = svc1(['10.180.0.1', '10.180.2.1', '10.180.0.2']);
  t.is(svcChain(s), 'KUBE-SVC-XPGD46QRK7WJZT7O');
  t.deepEqual(
    s.endpoints.map((e) => sepChain(s, e)),
    ['KUBE-SEP-SXIVWICOYRO3J4NJ', 'KUBE-SEP-ZX7GRIZKSNUQ3LAJ', 'KUBE-SEP-LXVODXWDISEETFEF'],
  );
  t.is(nftServiceChain(s), 'service-ULMVA6XW-ns1/svc1/tcp/p80');
  t.is(nftEndpointChain(s, s.endpoints[0]!), 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
});

test('iptables, current layout: the whole nat ruleset for two endpoints', (t) => {
  const r = iptablesRuleset([svc1(['10.180.0.1', '10.180.2.1'])], { clusterCidr: '10.0.0.0/8', layout: 'current' });
  t.is(
    r.text,
    `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80
COMMIT
`,
  );
  t.is(r.natRules, 16); // 3 hook jumps + 3 KUBE-POSTROUTING + 1 KUBE-MARK-MASQ + 2 KUBE-SERVICES + 3 KUBE-SVC + 4 KUBE-SEP
  t.is(r.natChains, 8);
});

test("iptables, current layout: above 1000 endpoints in all (kube-proxy's large-cluster mode) no comment on the endpoint jumps or in the endpoint chains", (t) => {
  const fleet = (count: number) => buildFleet({ count, backendsPerService: 10, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });
  const lines = (count: number) => iptablesRuleset(fleet(count), { clusterCidr: '10.244.0.0/16', layout: 'current' }).text.split('\n');
  const commented = (ls: string[], re: RegExp) => ls.filter((l) => re.test(l)).map((l) => l.includes('--comment'));
  // 100 × 10 = 1000 endpoints: still commented; 101 × 10 = 1010: not.
  for (const [count, want] of [
    [100, true],
    [101, false],
  ] as const) {
    const ls = lines(count);
    t.true(
      commented(ls, /^-A KUBE-SVC-\S+ .*-j KUBE-SEP-/).every((c) => c === want),
      `${count} Services: jumps to endpoint chains ${want ? 'with' : 'without'} comments`,
    );
    t.true(
      commented(ls, /^-A KUBE-SEP-/).every((c) => c === want),
      `${count} Services: endpoint chains ${want ? 'with' : 'without'} comments`,
    );
    // The Service's own rules keep theirs either way.
    t.true(commented(ls, /^-A KUBE-SERVICES .*-j KUBE-SVC-/).every(Boolean));
    t.true(commented(ls, /^-A KUBE-SVC-\S+ .*KUBE-MARK-MASQ/).every(Boolean));
  }
  t.is(
    lines(101).find((l) => l.startsWith('-A KUBE-SEP-') && l.includes('DNAT')),
    // Endpoints in kube-proxy's order, by "ip:port" text: 10.128.0.10 before 10.128.0.1.
    `-A ${sepChain(fleet(101)[0]!, fleet(101)[0]!.endpoints[9]!)} -m tcp -p tcp -j DNAT --to-destination 10.128.0.10:80`,
  );
});

test('iptables, 2019 layout (kube-proxy 1.14): masquerade and jump both in KUBE-SERVICES, 2 rules per Service, no comment on endpoint rules', (t) => {
  const r = iptablesRuleset([svc1(['10.180.0.1', '10.180.2.1', '10.180.0.2'])], { clusterCidr: '10.0.0.0/8', layout: '2019' });
  const lines = r.text.split('\n');
  t.deepEqual(
    lines.filter((l) => l.startsWith('-A KUBE-SERVICES')),
    [
      '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41/32 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41/32 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O',
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ],
  );
  t.deepEqual(
    lines.filter((l) => l.startsWith('-A KUBE-SVC-')),
    [
      '-A KUBE-SVC-XPGD46QRK7WJZT7O -m statistic --mode random --probability 0.33333 -j KUBE-SEP-SXIVWICOYRO3J4NJ',
      '-A KUBE-SVC-XPGD46QRK7WJZT7O -m statistic --mode random --probability 0.50000 -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ',
      '-A KUBE-SVC-XPGD46QRK7WJZT7O -j KUBE-SEP-LXVODXWDISEETFEF',
    ],
  );
  t.deepEqual(
    lines.filter((l) => l.startsWith('-A KUBE-SEP-SXIVWICOYRO3J4NJ')),
    ['-A KUBE-SEP-SXIVWICOYRO3J4NJ -s 10.180.0.1/32 -j KUBE-MARK-MASQ', '-A KUBE-SEP-SXIVWICOYRO3J4NJ -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80'],
  );
  t.true(lines.includes('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000'));
});

test('iptables rule count grows as the studies say: 1 (current) or 2 (2019) rules per Service in KUBE-SERVICES', (t) => {
  const fleet = buildFleet({ count: 100, backendsPerService: 10, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });
  const count = (layout: 'current' | '2019') =>
    iptablesRuleset(fleet, { clusterCidr: '10.244.0.0/16', layout })
      .text.split('\n')
      .filter((l) => l.startsWith('-A KUBE-SERVICES')).length - 1;
  t.is(count('current'), 100);
  t.is(count('2019'), 200);
});

test("nftables: the whole table as kube-proxy v1.37's first sync writes it, for one Service of one endpoint and one without endpoints", (t) => {
  const api: ServicePort = { namespace: 'default', name: 'kubernetes', portName: 'https', protocol: 'tcp', clusterIP: '172.30.0.1', port: 443, endpoints: [] };
  const r = nftablesRuleset([api, svc1(['10.180.0.1'])], { clusterCidr: '10.0.0.0/8', serviceCidr: '172.30.0.0/16', nodeIPs: ['192.168.0.2'] });
  t.is(
    r.base,
    `add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy service-endpoints-check
add chain ip kube-proxy firewall-check
add chain ip kube-proxy services
add chain ip kube-proxy masquerading
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add set ip kube-proxy hairpin-connections { type ipv4_addr . ipv4_addr . inet_proto . inet_service ; comment "service hairpin connections" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy masquerading mark and 0x4000 != 0 mark set mark xor 0x4000 masquerade fully-random
add rule ip kube-proxy masquerading ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy services ip daddr @cluster-ips ip saddr != 10.0.0.0/8 mark set mark or 0x4000 comment "masquerade clusterIP traffic from outside cluster"
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
`,
  );
  // One endpoint: a plain dnat (kube-proxy writes no map for one). No endpoints: no chain, a
  // reject through the no-endpoint-services map, commented with the Service port's name.
  t.deepEqual(r.batches, [
    `add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 meta l4proto tcp dnat to 10.180.0.1:80
add element ip kube-proxy cluster-ips { 172.30.0.1 , 172.30.0.41 }
add element ip kube-proxy no-endpoint-services { 172.30.0.1 . tcp . 443 comment "default/kubernetes:https" : goto reject-chain }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
`,
  ]);
  // 15 fixed chains and 22 fixed rules (as \`nft list table\` counts them), then 1 + 1 per Service with endpoints.
  t.deepEqual([r.chains, r.rules, r.mapElements], [16, 23, 1]);
});

test("nftables: several endpoints are one numgen map in kube-proxy's order (by ip:port text); batches of 500; without a Service CIDR or node addresses, no drop rule and an empty nodeport-ips", (t) => {
  const r = nftablesRuleset([svc1(['10.180.0.2', '10.180.0.10', '10.180.2.1'])], { clusterCidr: '10.0.0.0/8' });
  t.is(
    r.batches[0]!.split('\n')[1],
    'add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 meta l4proto tcp dnat ip addr . port to numgen random mod 3 map { 0 : 10.180.0.10 . 80 , 1 : 10.180.0.2 . 80 , 2 : 10.180.2.1 . 80 }',
  );
  t.false(r.base.includes('Drop traffic to unallocated ClusterIPs'));
  t.false(r.base.includes('add element'));
  t.deepEqual([r.chains, r.rules, r.mapElements], [16, 22, 1]);
  const big = nftablesRuleset(buildFleet({ count: 1200, backendsPerService: 2, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' }), {
    clusterCidr: '10.0.0.0/8',
    batchSize: 500,
  });
  t.is(big.batches.length, 3);
  // Per Service: one chain, one rule, one service-ips element, whatever the number of endpoints.
  t.deepEqual([big.chains, big.rules, big.mapElements], [15 + 1200, 21 + 1200, 1200]);
  t.is(big.batches[2]!.match(/^add chain /gm)!.length, 200);
});

test('fleet: real-looking names, ClusterIPs from .2, distinct backends; too big a fleet is refused', (t) => {
  const f = buildFleet({ count: 3, backendsPerService: 2, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/16' });
  t.deepEqual(
    f.map((s) => `${s.namespace}/${s.name}:${s.portName} ${s.clusterIP}`),
    ['netlab/svc-1:http 10.96.0.2', 'netlab/svc-2:http 10.96.0.3', 'netlab/svc-3:http 10.96.0.4'],
  );
  t.deepEqual(
    f.flatMap((s) => s.endpoints.map((e) => e.ip)),
    ['10.128.0.1', '10.128.0.2', '10.128.0.3', '10.128.0.4', '10.128.0.5', '10.128.0.6'],
  );
  t.throws(() => buildFleet({ count: 300, backendsPerService: 1, serviceCidr: '10.96.0.0/24', backendCidr: '10.128.0.0/16' }), {
    message: '300 Services do not fit in 10.96.0.0/24 (253 addresses)',
  });
});

test('rules walked per new connection, from counters and positions', (t) => {
  // 3 Services; 100 connections to the last one, whose 2 endpoints took 60 and 40.
  const save = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [100:6000]
:POSTROUTING ACCEPT [100:6000]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SVC-B - [0:0]
:KUBE-SVC-C - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
[0:0] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[100:6000] -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[0:0] -A KUBE-SERVICES -d 10.96.0.2 -j KUBE-SVC-A
[0:0] -A KUBE-SERVICES -d 10.96.0.3 -j KUBE-SVC-B
[100:6000] -A KUBE-SERVICES -d 10.96.0.4 -j KUBE-SVC-C
[0:0] -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
[0:0] -A KUBE-SVC-C ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
[60:3600] -A KUBE-SVC-C -m statistic --mode random --probability 0.5 -j KUBE-SEP-1
[40:2400] -A KUBE-SVC-C -j KUBE-SEP-2
[0:0] -A KUBE-SEP-1 -s 10.128.0.1 -j KUBE-MARK-MASQ
[60:3600] -A KUBE-SEP-1 -p tcp -j DNAT --to-destination 10.128.0.1:80
[0:0] -A KUBE-SEP-2 -s 10.128.0.2 -j KUBE-MARK-MASQ
[40:2400] -A KUBE-SEP-2 -p tcp -j DNAT --to-destination 10.128.0.2:80
COMMIT
`;
  const w = rulesWalked(save);
  // per connection: 1 hook rule + 3 in KUBE-SERVICES + (1 masq + 1 statistic + 0.4 second) in
  // KUBE-SVC-C + 2 in its KUBE-SEP = 8.4
  t.is(w.connections, 100);
  t.is(w.evaluations, 840);
  t.is(w.perConnection, 8.4);
});

test("ebpf: map contents in the program's byte order, and the load script", (t) => {
  const m = ebpfMaps([svc1(['10.180.0.1', '10.180.2.1']), { ...svc1(['10.180.0.3']), name: 'svc2', clusterIP: '172.30.0.42', port: 8080 }], '/sys/fs/bpf/maps');
  t.is(m.services, 2);
  t.is(m.backends, 3);
  t.is(
    m.batch,
    `map update pinned /sys/fs/bpf/maps/backends key hex 00 00 00 00 value hex 0a b4 00 01 00 50 00 00
map update pinned /sys/fs/bpf/maps/backends key hex 01 00 00 00 value hex 0a b4 02 01 00 50 00 00
map update pinned /sys/fs/bpf/maps/services key hex ac 1e 00 29 00 50 00 00 value hex 00 00 00 00 02 00 00 00
map update pinned /sys/fs/bpf/maps/backends key hex 02 00 00 00 value hex 0a b4 00 03 00 50 00 00
map update pinned /sys/fs/bpf/maps/services key hex ac 1e 00 2a 1f 90 00 00 value hex 02 00 00 00 01 00 00 00
`,
  );
  t.deepEqual(ebpfCompile({ src: 'lb.c', obj: 'lb.o', services: 10, backends: 100, includeDir: '/usr/include/x86_64-linux-gnu' }), [
    'clang',
    '-O2',
    '-g',
    '-Wall',
    '-Werror',
    '-target',
    'bpf',
    '-I/usr/include/x86_64-linux-gnu',
    '-DMAX_SERVICES=10',
    '-DMAX_BACKENDS=100',
    '-c',
    'lb.c',
    '-o',
    'lb.o',
  ]);
  t.is(multiarchInclude('arm64'), '/usr/include/aarch64-linux-gnu');
  const load = ebpfLoadScript({ obj: '/r/lb.o', batchFile: '/r/maps.batch', cgroup: '/sys/fs/cgroup/netlab.s/client' });
  t.deepEqual(load.slice(0, 5), ['unshare', '--mount', '--propagation', 'private', 'sh']);
  t.deepEqual(load.slice(-3), ['/sys/fs/cgroup/netlab.s/client', '/r/lb.o', '/r/maps.batch']);
  // Maps are filled before the program is attached.
  const script = load[6]!;
  t.true(script.indexOf('bpftool batch') < script.indexOf('bpftool cgroup attach'));
});

test('ipvs: kube-ipvs0 addresses, virtual and real servers, the ipset and the nat rules', (t) => {
  const r = ipvsRuleset([svc1(['10.180.0.1', '10.180.2.1'])], { clusterCidr: '10.0.0.0/8', scheduler: 'rr' });
  t.is(r.addresses, 'addr add 172.30.0.41/32 dev kube-ipvs0\n');
  t.is(r.ipvsadm, '-A -t 172.30.0.41:80 -s rr\n-a -t 172.30.0.41:80 -r 10.180.0.1:80 -m -w 1\n-a -t 172.30.0.41:80 -r 10.180.2.1:80 -m -w 1\n');
  t.is(r.ipset, 'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nflush KUBE-CLUSTER-IP\nadd KUBE-CLUSTER-IP 172.30.0.41,tcp:80\n');
  t.true(
    r.iptables.includes(
      '-A KUBE-SERVICES ! -s 10.0.0.0/8 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n',
    ),
  );
  t.deepEqual([r.virtualServers, r.realServers, r.ipsetEntries], [1, 2, 1]);
  t.deepEqual(ipvsSysctls(0), [
    'net.ipv4.ip_forward=1',
    'net.ipv4.vs.conntrack=1',
    'net.ipv4.vs.conn_reuse_mode=0',
    'net.ipv4.vs.expire_nodest_conn=1',
    'net.ipv4.vs.expire_quiescent_template=1',
  ]);
});

test('the client targets the first, the last, or (rps) any Service; mode none calls backends directly', (t) => {
  const fleet = buildFleet({ count: 3, backendsPerService: 4, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });
  const target = (mode: string, tgt: string) => {
    const p = specFromStackDoc('x', { config: { 'netlab:proxy': { mode, target: tgt }, 'netlab:workload': { tool: 'rps' } } }).proxy!;
    return serviceTarget(proxyProvider(p.mode), p.target, fleet);
  };
  t.deepEqual(target('iptables', 'fixed'), { ip: '10.96.0.2', hosts: 1, port: 80 });
  t.deepEqual(target('iptables', 'last'), { ip: '10.96.0.4', hosts: 1, port: 80 });
  t.deepEqual(target('ebpf', 'random'), { ip: '10.96.0.2', hosts: 3, port: 80 });
  t.deepEqual(target('none', 'last'), { ip: '10.128.0.9', hosts: 4, port: 80 });
  t.deepEqual(target('none', 'random'), { ip: '10.128.0.1', hosts: 12, port: 80 });
});

test('iptables backend: nft by default, legacy on request, named in the commands and in what preflight checks', (t) => {
  const spec = (proxy: Record<string, unknown>) =>
    specFromStackDoc('b', {
      config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': proxy, 'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: 1 } },
    });
  const nft = spec({ mode: 'iptables', services: [2] });
  t.is(nft.proxy!.iptablesBackend, 'nft');
  const legacy = spec({ mode: 'iptables', services: [2], iptablesBackend: 'legacy' });
  const prog = (s: typeof nft) =>
    proxyProvider('iptables').program(
      { hostNs: 'ns', dir: '/d', clientCgroup: '/c', includeDir: '/i', clusterCidr: s.network.podCidr, options: s.proxy! },
      fleetOf(s.proxy!, 2),
    );
  t.deepEqual(prog(nft).steps, [['ip', 'netns', 'exec', 'ns', 'iptables-nft-restore', '/d/iptables-2.rules']]);
  t.deepEqual(prog(nft).saveCounters, ['ip', 'netns', 'exec', 'ns', 'iptables-nft-save', '-c', '-t', 'nat']);
  t.deepEqual(prog(legacy).steps, [['ip', 'netns', 'exec', 'ns', 'iptables-legacy-restore', '/d/iptables-2.rules']]);
  t.deepEqual(
    requirements(nft).features.filter((f) => f.startsWith('iptables')),
    ['iptables-nft'],
  );
  t.true(requirements(legacy).tools.includes('iptables-legacy'));
  t.deepEqual(
    requirements(spec({ mode: 'nftables', services: [2] })).features.filter((f) => f.startsWith('iptables')),
    [],
  );
  const e = t.throws(() => spec({ mode: 'iptables', iptablesBackend: 'xtables' }));
  t.regex(e!.message, /netlab:proxy\.iptablesBackend = "xtables": expected one of: nft, legacy/);
});
