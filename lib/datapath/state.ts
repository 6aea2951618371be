// What a datapath left in the kernel: per lab namespace, its links (with their details and
// addresses), routes of every table, neighbour entries and bridge fdb entries, as iproute2's JSON.
// The run keeps it (raw/datapath-state.json), so a datapath built by the real flannel can be
// compared with the model's (flannel/compare.ts). Pure: the commands and their parsing.

/** iproute2's JSON of one namespace. */
export interface NsState {
  /** `ip -d -j addr show`: every link with its kind-specific details and addresses. */
  links: Record<string, unknown>[];
  /** `ip -d -j route show table all`. */
  routes: Record<string, unknown>[];
  /** `ip -j neigh show`. */
  neighbours: Record<string, unknown>[];
  /** `bridge -j fdb show`. */
  fdb: Record<string, unknown>[];
}

/** One namespace's state per role: `client`, `server`, `client.pod0`, … (the namespace name after `netlab.<stack>.`). */
export type DatapathState = Record<string, NsState>;

/** A command printing one namespace's state as one JSON object (an empty list, which some
 * iproute2 versions print as nothing, as []). */
export const nsStateCommand = (ns: string): string[] => [
  'sh',
  '-c',
  [
    'set -e; ns=$0',
    'j() { out=$("$@"); [ -n "$out" ] || out="[]"; printf \'%s\' "$out"; }',
    'printf \'{"links":\'; j ip -n "$ns" -d -j addr show',
    'printf \',"routes":\'; j ip -n "$ns" -d -j route show table all',
    'printf \',"neighbours":\'; j ip -n "$ns" -j neigh show',
    'printf \',"fdb":\'; j bridge -n "$ns" -j fdb show',
    "printf '}\\n'",
  ].join('\n'),
  ns,
];

export function parseNsState(text: string): NsState {
  const s = JSON.parse(text) as Partial<NsState>;
  return { links: s.links ?? [], routes: s.routes ?? [], neighbours: s.neighbours ?? [], fdb: s.fdb ?? [] };
}
