// The model held to the real flannel (issue 16): the datapath state a run kept
// (raw/datapath-state.json, lib/datapath/state.ts) of a model run and of a flannel run, each
// normalised to lines, then diffed. Only what is legitimately run-specific is normalised
// (normalizeDatapath says what, and why); everything else must be equal. Pure.
import type { DatapathState, NsState } from '../state.ts';

/** The link between a host and the control plane: there only because flanneld needs the API (lib/k8s/controlplane.ts CP_LINK). */
export const CONTROL_PLANE_LINK = 'k8s0';

/** Link fields that are counters, timers or kernel-assigned indexes, not configuration. */
const RUN_FIELDS = new Set(['ifindex', 'link_index', 'link_netnsid', 'addr_info', 'linkinfo', 'address', 'master', 'ifname']);
/** Bridge and bridge-port details that are timers or carry the bridge's MAC (normalised apart). */
const TIMERS = new Set(['hello_timer', 'tcn_timer', 'topology_change_timer', 'gc_timer', 'hold_timer', 'message_age_timer', 'forward_delay_timer']);
/** Address fields that are state, not configuration (DAD in progress). */
const ADDR_STATE = new Set(['tentative', 'dadfailed', 'valid_life_time', 'preferred_life_time']);

type Obj = Record<string, unknown>;

/** A value as one short, stable text: objects with sorted keys, lists in order. */
function text(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(text).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${k}=${text((v as Obj)[k])}`)
      .join(',')}}`;
  return String(v);
}

const fields = (o: Obj, skip: Set<string> = new Set()) =>
  Object.keys(o)
    .filter((k) => !skip.has(k) && o[k] !== undefined)
    .sort()
    .map((k) => `${k}=${text(o[k])}`)
    .join(' ');

/** A MAC's EUI-64 interface identifier, as in an IPv6 link-local address (fe80::…). */
export function eui64(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const w = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
  return `fe80::${w.map((x) => x.toString(16)).join(':')}`;
}

/**
 * One run's datapath state as sorted lines, per namespace role (`client`, `server`,
 * `client.pod0`, …). What is normalised, and why each is run-specific:
 *
 * - **MAC addresses** of the lab's own links become `<role>/<link>`, wherever they appear (the
 *   link itself, neighbour and fdb entries, a bridge's id): veths and bridges get random MACs from
 *   the kernel, and flannel derives its VTEP MAC itself and publishes it in the Node's annotations
 *   (the model fixes one so plans are reproducible). Which link's MAC an entry holds is compared.
 * - **IPv6 link-local addresses** (and their `local` routes) made from a link's MAC become
 *   `fe80::<eui64 of role/link>`, and solicited-node multicast MACs (`33:33:ff` + the address's
 *   last 3 bytes) `33:33:ff:<role/link>`: they follow from the MAC. `tentative` (duplicate address
 *   detection still running) is a moment's state, not configuration.
 * - **The host end of a pod's veth**: the bridge plugin names it `veth` + 8 hex digits of a hash
 *   of the sandbox, the model `veth0`; both become `<bridge>-port<n>`, n in the order of creation.
 * - **Kernel-assigned numbers**: interface indexes, peer indexes, namespace ids (creation order).
 * - **Timers** of a bridge and its ports (time since an event).
 * - **Learned state**: neighbour entries not PERMANENT or NOARP (ARP from traffic) and fdb entries
 *   that are neither permanent nor static (a bridge learning a source MAC).
 * - **The control plane's link** (`k8s0`), with its addresses, routes, neighbours and fdb
 *   entries: it exists only because flanneld needs the Kubernetes API; the model needs none.
 */
export function normalizeDatapath(state: DatapathState): Record<string, string[]> {
  // Pass 1: names and MAC labels of every link in every namespace.
  const macs = new Map<string, string>();
  const names = new Map<string, Map<string, string>>();
  for (const [role, ns] of Object.entries(state)) {
    const m = new Map<string, string>();
    const ports = new Map<string, number>();
    for (const l of [...ns.links].sort((a, b) => Number(a.ifindex) - Number(b.ifindex))) {
      const name = String(l.ifname);
      const master = l.master as string | undefined;
      const kind = (l.linkinfo as Obj | undefined)?.info_kind;
      let norm = name;
      if (kind === 'veth' && master) {
        const n = ports.get(master) ?? 0;
        ports.set(master, n + 1);
        norm = `${master}-port${n}`;
      }
      m.set(name, norm);
      const mac = String(l.address ?? '');
      if (mac && mac !== '00:00:00:00:00:00' && name !== CONTROL_PLANE_LINK) macs.set(mac, `${role}/${norm}`);
    }
    names.set(role, m);
  }
  const mac = (v: unknown) => {
    const s = String(v);
    const own = macs.get(s);
    if (own) return own;
    if (s.startsWith('33:33:ff:')) for (const [m, label] of macs) if (m.endsWith(s.slice(9))) return `33:33:ff:<${label}>`;
    return s;
  };
  const linkLocal = new Map<string, string>();
  for (const [m, label] of macs) linkLocal.set(eui64(m), `fe80::<eui64 of ${label}>`);
  const addr = (v: unknown) => linkLocal.get(String(v)) ?? String(v);
  // A bridge id prints its MAC without leading zeros (8000.e:6e:6c:0:1:1).
  const macsIn = (v: string) =>
    v.replace(/\b[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}\b/g, (m) =>
      mac(
        m
          .split(':')
          .map((x) => x.padStart(2, '0'))
          .join(':'),
      ),
    );

  const out: Record<string, string[]> = {};
  for (const [role, ns] of Object.entries(state) as [string, NsState][]) {
    const name = (n: unknown) => names.get(role)?.get(String(n)) ?? String(n);
    const skipLink = (n: unknown) => String(n) === CONTROL_PLANE_LINK;
    const lines: string[] = [];
    for (const l of ns.links) {
      if (skipLink(l.ifname)) continue;
      const info = (l.linkinfo ?? {}) as Obj;
      const data = (info.info_data ?? {}) as Obj;
      const slave = (info.info_slave_data ?? {}) as Obj;
      const strip = (o: Obj) =>
        Object.fromEntries(
          Object.entries(o)
            .filter(([k]) => !TIMERS.has(k))
            .map(([k, v]) => [k, typeof v === 'string' ? macsIn(v) : k === 'link' ? name(v) : v]),
        );
      lines.push(
        [
          `link ${name(l.ifname)}`,
          `mac=${mac(l.address)}`,
          ...(l.master ? [`master=${name(l.master)}`] : []),
          fields(l, RUN_FIELDS),
          ...(info.info_kind ? [`kind=${text(info.info_kind)}`] : []),
          ...(Object.keys(data).length ? [`data=${text(strip(data))}`] : []),
          ...(info.info_slave_kind ? [`slave=${text(info.info_slave_kind)} ${text(strip(slave))}`] : []),
        ].join(' '),
      );
      for (const a of (l.addr_info ?? []) as Obj[])
        lines.push(
          `addr ${name(l.ifname)} ${addr(a.local)}/${a.prefixlen} ${fields({ ...a, local: undefined, prefixlen: undefined, label: undefined }, ADDR_STATE)}`,
        );
    }
    for (const r of ns.routes) {
      if (skipLink(r.dev)) continue;
      // The local route of an IPv6 link-local address appears once duplicate address detection
      // ends, about a second after the link comes up: a matter of when the state was read.
      if (r.table === 'local' && r.type === 'local' && String(r.dst).startsWith('fe80:')) continue;
      lines.push(`route ${addr(r.dst)} ${fields({ ...r, dst: undefined, dev: name(r.dev) })}`);
    }
    for (const n of ns.neighbours) {
      if (skipLink(n.dev)) continue;
      const st = (n.state ?? []) as string[];
      if (!st.includes('PERMANENT') && !st.includes('NOARP')) continue;
      lines.push(`neigh ${n.dst} ${fields({ ...n, dst: undefined, dev: name(n.dev), lladdr: n.lladdr === undefined ? undefined : mac(n.lladdr) })}`);
    }
    for (const f of ns.fdb) {
      if (skipLink(f.ifname)) continue;
      if (f.state !== 'permanent' && f.state !== 'static') continue;
      lines.push(`fdb ${mac(f.mac)} ${fields({ ...f, mac: undefined, ifname: name(f.ifname), master: f.master === undefined ? undefined : name(f.master) })}`);
    }
    out[role] = lines.sort();
  }
  return out;
}

export interface DatapathDiff {
  /** Per namespace role: lines only the model has, and lines only the real flannel has. */
  onlyModel: Record<string, string[]>;
  onlyReal: Record<string, string[]>;
}

/** The two states after normalising; equal when every list is empty. */
export function compareDatapaths(model: DatapathState, real: DatapathState): DatapathDiff {
  const m = normalizeDatapath(model);
  const r = normalizeDatapath(real);
  const onlyModel: Record<string, string[]> = {};
  const onlyReal: Record<string, string[]> = {};
  for (const role of [...new Set([...Object.keys(m), ...Object.keys(r)])].sort()) {
    const a = m[role] ?? [];
    const b = r[role] ?? [];
    const only = (x: string[], y: string[]) => {
      const left = [...y];
      return x.filter((l) => {
        const i = left.indexOf(l);
        if (i < 0) return true;
        left.splice(i, 1);
        return false;
      });
    };
    const om = only(a, b);
    const or = only(b, a);
    if (om.length) onlyModel[role] = om;
    if (or.length) onlyReal[role] = or;
  }
  return { onlyModel, onlyReal };
}

/** Whether the diff is empty. */
export const datapathsEqual = (d: DatapathDiff) => !Object.keys(d.onlyModel).length && !Object.keys(d.onlyReal).length;

/** The diff as text, per namespace: `- ` model only, `+ ` the real flannel only. */
export function datapathDiffText(d: DatapathDiff): string {
  const roles = [...new Set([...Object.keys(d.onlyModel), ...Object.keys(d.onlyReal)])].sort();
  return roles
    .map((role) => [`${role}:`, ...(d.onlyModel[role] ?? []).map((l) => `- ${l}`), ...(d.onlyReal[role] ?? []).map((l) => `+ ${l}`)].join('\n'))
    .join('\n');
}
