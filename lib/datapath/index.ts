// The registry of the embedded lab's datapaths: the spec's `datapath:` values are its keys. To add
// a datapath, write one file implementing DatapathBackend (types.ts) and add it here.
import { host } from './host.ts';
import { hostgw } from './hostgw.ts';
import { ipvlan } from './ipvlan.ts';
import { macvlan } from './macvlan.ts';
import type { DatapathBackend } from './types.ts';
import { vxlan } from './vxlan.ts';

export const DATAPATH_BACKENDS = { host, hostgw, vxlan, macvlan, ipvlan } as const satisfies Record<string, DatapathBackend>;

export type DatapathName = keyof typeof DATAPATH_BACKENDS;

/** The datapath names, in the registry's order. */
export const DATAPATH_NAMES = Object.keys(DATAPATH_BACKENDS) as [DatapathName, ...DatapathName[]];

/** The backend of an embedded-lab datapath name, or undefined (an aws-only datapath, a typo). */
export const findDatapath = (name: string): DatapathBackend | undefined => (DATAPATH_BACKENDS as Record<string, DatapathBackend>)[name];

export function datapathBackend(name: string): DatapathBackend {
  const b = findDatapath(name);
  if (!b) throw new Error(`no datapath ${JSON.stringify(name)}; the embedded lab has: ${DATAPATH_NAMES.join(', ')}`);
  return b;
}
