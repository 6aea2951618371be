// The Kubernetes API objects of the lab (issue 16), as plain JSON: the Service fleet as selectorless
// Services plus EndpointSlices labelled kubernetes.io/service-name (what the EndpointSlice
// controller would write for pods), and one Node per host. Pure: lib/k8s/controlplane.ts writes
// them to files and applies them with `kubectl apply --server-side`.
import type { ServicePort } from '../proxy/fleet.ts';

/** The label every object of the fleet carries, so a run can find (and delete) exactly its own. */
export const FLEET_LABEL = 'netlab.io/fleet';
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
export function serviceObjects(s: ServicePort, targetPort: number): [Obj, Obj] {
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: { [FLEET_LABEL]: 'true' } },
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
      labels: { [FLEET_LABEL]: 'true', 'kubernetes.io/service-name': s.name, 'endpointslice.kubernetes.io/managed-by': 'netlab.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: s.portName, protocol: 'TCP', port: targetPort }],
    endpoints: s.endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: true, serving: true, terminating: false } })),
  };
  return [service, slice];
}

/** The whole fleet: its namespaces, then each Service and its slice. */
export function fleetObjects(fleet: ServicePort[]): Obj[] {
  return [...fleetNamespaces(fleet), ...fleet.flatMap((s) => serviceObjects(s, s.endpoints[0]?.port ?? s.port))];
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
