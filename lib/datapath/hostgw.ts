// hostgw: flannel's host-gw backend. Pods on a cni0 bridge; each host routes the other host's pod
// /24 via that host's underlay address, so pod traffic crosses the wire unencapsulated.
import { ipn } from '../core/netns.ts';
import { bridgePods, peerOf, peerSubnet, serverPodRoute } from './bridge.ts';
import type { DatapathBackend } from './types.ts';

export const hostgw: DatapathBackend = {
  name: 'hostgw',
  summary: "flannel host-gw: pods on cni0, the peer's pod /24 routed via the peer's underlay address",
  features: ['netns', 'veth', 'bridge'],
  podsOnUnderlay: false,
  bypassesHostNetfilter: false,
  udpPorts: [],
  teardown: 'cni0, the veth pairs and the routes live in the host namespaces, the pods in their own: all go with the namespaces',
  build(b) {
    const endpoints = bridgePods(b, b.mtu);
    for (const h of b.hosts) b.add(h.role, ipn(h.netns, 'route', 'add', peerSubnet(b, h.role), 'via', peerOf(b, h.role).underlayIp, 'dev', 'eth0'));
    return { endpoints, pathMtu: b.mtu };
  },
  serviceRoutes(b, r) {
    serverPodRoute(b, r);
    b.add('client', ipn(b.hosts[0].netns, 'route', 'add', r.backendCidr, 'via', b.hosts[1].underlayIp, 'dev', 'eth0'));
  },
};
