// macvlan: each pod's interface is a macvlan child (bridge mode) of its host's wire NIC, with its
// own MAC address on the underlay. Pod packets leave past the host namespace's stack.
import { childPods, podToPodRoute } from './underlay-pods.ts';
import type { DatapathBackend } from './types.ts';

export const macvlan: DatapathBackend = {
  name: 'macvlan',
  summary: "macvlan (bridge mode): pods on the underlay with their own MAC, past the host's stack",
  features: ['netns', 'veth', 'macvlan'],
  podsOnUnderlay: true,
  bypassesHostNetfilter: true,
  udpPorts: [],
  teardown: 'the macvlan children live in the pod namespaces and go with them (or with their parent NIC)',
  build(b) {
    return { endpoints: childPods(b, ['type', 'macvlan', 'mode', 'bridge']), pathMtu: b.mtu };
  },
  serviceRoutes: podToPodRoute,
};
