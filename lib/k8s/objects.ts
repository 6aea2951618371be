// The Kubernetes API objects of the lab (issue 16), as plain JSON: the Service fleet as selectorless
// Services plus EndpointSlices labelled kubernetes.io/service-name (what the EndpointSlice
// controller would write for pods), and one Node per host. Pure: lib/k8s/controlplane.ts writes
// them to files and applies them with `kubectl apply --server-side`.
import type { ServicePort } from '../proxy/fleet.ts';

/** The label every object of the fleet carries, so a run can find (and delete) exactly its own. */
export const FLEET_LABEL = 'netlab.io/fleet';
/** Each Service's and slice's 1-based position in the fleet: a fleet of n is the first n of any
 * larger one, so "index above n" is exactly what a shrink to n deletes (pruneBeyond). */
export const INDEX_LABEL = 'netlab.io/index';
/** The field manager of netlab's server-side applies. */
export const FIELD_MANAGER = 'netlab';

type Obj = Record<string, unknown>;

/** A `v1 List` of objects: one file, one `kubectl apply --server-side -f`. */
export const list = (items: Obj[]): Obj => ({ apiVersion: 'v1', kind: 'List', items });

/** The namespaces the fleet's Services live in. */
export function fleetNamespaces(fleet: ServicePort[]): Obj[] {
  return [...new Set(fleet.map((s) => s.namespace))].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { [FLEET_LABEL]: 'true' } },
  }));
}

/** The EndpointSlice's name for a Service: one slice per Service (the lab's fleets have ≤ 100 endpoints per Service). */
export const sliceName = (s: ServicePort) => `${s.name}-netlab`;

/**
 * One Service port of the fleet as a selectorless Service with the model's ClusterIP, and its
 * EndpointSlice: every backend ready, serving and not terminating (as for running pods).
 */
export function serviceObjects(s: ServicePort, targetPort: number, index: number): [Obj, Obj] {
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: { [FLEET_LABEL]: 'true', [INDEX_LABEL]: String(index) } },
    spec: {
      type: 'ClusterIP',
      clusterIP: s.clusterIP,
      ports: [{ name: s.portName, protocol: 'TCP', port: s.port, targetPort }],
    },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(s),
      namespace: s.namespace,
      labels: {
        [FLEET_LABEL]: 'true',
        [INDEX_LABEL]: String(index),
        'kubernetes.io/service-name': s.name,
        'endpointslice.kubernetes.io/managed-by': 'netlab.io',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: s.portName, protocol: 'TCP', port: targetPort }],
    endpoints: s.endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: true, serving: true, terminating: false } })),
  };
  return [service, slice];
}

/** The whole fleet: its namespaces, then each Service and its slice. */
export function fleetObjects(fleet: ServicePort[]): Obj[] {
  return [...fleetNamespaces(fleet), ...fleet.flatMap((s, i) => serviceObjects(s, s.endpoints[0]?.port ?? s.port, i + 1))];
}

/**
 * A shell script (`sh -c script n kubectl…`) that deletes the Services and EndpointSlices of the
 * fleet at positions above n: one list, then one DeleteCollection per type and per 400 positions
 * (`index in (…)`). Not `kubectl delete <names>`: kubectl sends one DELETE per object at its
 * client-side limit of 5 per second (measured: 198 objects took 36 s), which would be counted as
 * kube-proxy's programming time.
 */
export function pruneBeyond(namespaces: string[]): string {
  const sel = `${encodeURIComponent(INDEX_LABEL)}%20in%20($set)`;
  return [
    'n=$0',
    ...namespaces.map((ns) =>
      [
        `"$@" get services -n ${ns} -l ${FLEET_LABEL}=true -o 'jsonpath={range .items[*]}{.metadata.labels.netlab\\.io/index}{"\\n"}{end}' |`,
        `  awk -v n="$n" '$1 > n { s = s (c++ ? "," : "") $1; if (c == 400) { print s; s = ""; c = 0 } } END { if (c) print s }' |`,
        '  while read -r set; do',
        `    "$@" delete --raw "/api/v1/namespaces/${ns}/services?labelSelector=${sel}" > /dev/null`,
        `    "$@" delete --raw "/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${sel}" > /dev/null`,
        '  done',
      ].join('\n'),
    ),
  ].join('\n');
}

export interface NodeSpec {
  name: string;
  /** The host's address other hosts reach it at (the Node's InternalIP). */
  internalIP: string;
  podCIDR: string;
}

/** A Node object; its addresses are status, so they are patched separately (nodeStatusPatch). */
export const nodeObject = (n: NodeSpec): Obj => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: n.name, labels: { [FLEET_LABEL]: 'true', 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux' } },
  spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
});

/** The status/addresses patch a kubelet would write (merge patch on the status subresource). */
export const nodeStatusPatch = (n: NodeSpec): Obj => ({
  status: {
    addresses: [
      { type: 'InternalIP', address: n.internalIP },
      { type: 'Hostname', address: n.name },
    ],
    conditions: [{ type: 'Ready', status: 'True', reason: 'NetlabHost', message: 'a netlab host namespace' }],
  },
});
