// vxlan: flannel's vxlan backend. Pods on a cni0 bridge; pod traffic between hosts is wrapped in
// VXLAN (VNI 1, UDP 8472) by flannel.1, programmed statically as flanneld does (no learning).
import { intToIp } from '../core/cidr.ts';
import { ipn } from '../core/netns.ts';
import { bridgePods, peerOf, peerSubnet, serverPodRoute } from './bridge.ts';
import type { DatapathBackend } from './types.ts';

/** Bytes VXLAN adds to every packet on the wire: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
/** flannel's Linux defaults: VNI 1 and UDP port 8472 (the kernel's own default is 4789). */
export const VXLAN_VNI = 1;
export const VXLAN_PORT = 8472;

export const vxlan: DatapathBackend = {
  name: 'vxlan',
  summary: 'flannel vxlan: pods on cni0, flannel.1 (VNI 1, UDP 8472) between the hosts',
  features: ['netns', 'veth', 'bridge', 'vxlan'],
  podsOnUnderlay: false,
  bypassesHostNetfilter: false,
  udpPorts: [VXLAN_PORT],
  teardown: 'flannel.1 with its fdb and neighbour entries, cni0 and the veth pairs live in the lab namespaces: all go with them',
  build(b) {
    const podMtu = b.mtu - VXLAN_OVERHEAD;
    const endpoints = bridgePods(b, podMtu);
    // flannel.1 holds <subnet>.0/32; per peer a permanent neighbour for the peer's VTEP address, an
    // fdb entry to the peer's underlay address and an onlink route to the peer's pod subnet.
    for (const h of b.hosts) {
      const peer = peerOf(b, h.role);
      const vtepIp = intToIp(h.podSubnetBase);
      const peerVtep = intToIp(peer.podSubnetBase);
      b.add(
        h.role,
        ipn(
          h.netns,
          'link',
          'add',
          'flannel.1',
          'address',
          h.vtepMac,
          'mtu',
          String(podMtu),
          'txqlen',
          '0',
          'type',
          'vxlan',
          'id',
          String(VXLAN_VNI),
          'local',
          h.underlayIp,
          'dev',
          'eth0',
          'dstport',
          String(VXLAN_PORT),
          'nolearning',
        ),
      );
      b.add(h.role, ipn(h.netns, 'addr', 'add', `${vtepIp}/32`, 'dev', 'flannel.1'));
      b.add(h.role, ipn(h.netns, 'link', 'set', 'flannel.1', 'up'));
      b.add(h.role, ipn(h.netns, 'neigh', 'add', peerVtep, 'lladdr', peer.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent'));
      b.add(h.role, ['bridge', '-n', h.netns, 'fdb', 'append', peer.vtepMac, 'dev', 'flannel.1', 'dst', peer.underlayIp]);
      b.add(h.role, ipn(h.netns, 'route', 'add', peerSubnet(b, h.role), 'via', peerVtep, 'dev', 'flannel.1', 'onlink'));
    }
    return { endpoints, pathMtu: podMtu };
  },
  serviceRoutes(b, r) {
    serverPodRoute(b, r);
    b.add('client', ipn(b.hosts[0].netns, 'route', 'add', r.backendCidr, 'via', intToIp(b.hosts[1].podSubnetBase), 'dev', 'flannel.1', 'onlink'));
  },
};
