// ipvlan: each pod's interface is an ipvlan child (L2 mode) of its host's wire NIC, sharing the
// NIC's MAC address (what the CNI ipvlan plugin does on AWS, where an ENI has one MAC).
import { childPods, podToPodRoute } from './underlay-pods.ts';
import type { DatapathBackend } from './types.ts';

export const ipvlan: DatapathBackend = {
  name: 'ipvlan',
  summary: "ipvlan (L2 mode): pods on the underlay sharing the NIC's MAC, past the host's stack",
  features: ['netns', 'veth', 'ipvlan'],
  podsOnUnderlay: true,
  bypassesHostNetfilter: true,
  udpPorts: [],
  teardown: 'the ipvlan children live in the pod namespaces and go with them (or with their parent NIC)',
  build(b) {
    return { endpoints: childPods(b, ['type', 'ipvlan', 'mode', 'l2']), pathMtu: b.mtu };
  },
  serviceRoutes: podToPodRoute,
};
