// The measurement grid of a stack: one point per Service count × conn_reuse_mode × repetition ×
// response size × keep-alive × load (concurrency, connections or rate), each with its id, its
// parameters and the time bound the runner kills the tool after. Both targets take their points from
// here and only add the command lines: the embedded lab (lib/local/plan.ts) and the EC2 pair
// (lib/aws/workload.ts). Pure.
import type { ProxyMode, Spec } from '../spec/schema.ts';

export type Tool = 'ab' | 'wrk' | 'rps' | 'conn-reuse' | 'tcpkali';

export interface PointParams {
  responseBytes: number;
  keepalive: boolean;
  concurrency?: number;
  requests?: number;
  connections?: number;
  threads?: number;
  durationSeconds?: number;
  rate?: number;
  requestsPerConnection?: number;
  /** Services programmed when this point ran (stacks with a proxy). */
  services?: number;
  proxyMode?: ProxyMode;
  target?: string;
  connReuseMode?: number;
}

/** One cell of the grid: what is measured, not how (the target adds the command). */
export interface GridPoint {
  id: string;
  tool: Tool;
  repetition: number;
  params: PointParams;
  /** Upper bound on the tool's run time in seconds; the runner kills it after this. */
  timeoutSeconds: number;
}

export interface GridOptions {
  /**
   * conn-reuse as a closed loop of this many workers, each opening a new connection per request (the
   * aws target's reuse_load), instead of the open-loop client at the stack's rate (the embedded lab).
   */
  connReuseWorkers?: number;
  /**
   * How Service counts and repetitions nest. `grouped` (the default): every repetition of one count,
   * then the next count, so each count is programmed once (aws: its fleet only grows). `alternating`
   * (the embedded lab): repetition outermost, the counts inside it in the order given and then
   * reversed on every other repetition (1, N | N, 1 | 1, N …), so slow drift of the machine falls on
   * both counts alike instead of posing as an effect. It costs a programming per change of count.
   */
  order?: 'grouped' | 'alternating';
}

/** Tools whose keep-alive is a sweep: their ids say ka or noka. conn-reuse never keeps a connection, tcpkali always does. */
const KEEPALIVE_SWEPT: ReadonlySet<Tool> = new Set<Tool>(['ab', 'wrk', 'rps']);

/**
 * The point's id, also the name of its raw files:
 * `<tool>-b<responseBytes>-<load>[-ka|-noka][-s<services>][-crm<connReuseMode>]-r<repetition>`,
 * where load is `q<rate>` for a rate and `c<n>` for a concurrency or a connection count.
 */
export function pointId(tool: Tool, params: PointParams, repetition: number): string {
  const load = params.rate !== undefined ? `q${params.rate}` : `c${params.concurrency ?? params.connections}`;
  const ka = KEEPALIVE_SWEPT.has(tool) ? `-${params.keepalive ? 'ka' : 'noka'}` : '';
  const svc = params.services !== undefined ? `-s${params.services}` : '';
  const crm = params.connReuseMode !== undefined ? `-crm${params.connReuseMode}` : '';
  return `${tool}-b${params.responseBytes}-${load}${ka}${svc}${crm}-r${repetition}`;
}

/** ab's maximum run time. ab has no duration, so this is a generous bound: every request may take the
 * full per-request timeout, spread over the concurrent clients; at least 30 s, at most an hour. */
export const AB_MIN_SECONDS = 30;
export const AB_MAX_SECONDS = 3600;
export function abTimeoutSeconds(requests: number, timeoutSeconds: number, concurrency: number): number {
  return Math.min(AB_MAX_SECONDS, AB_MIN_SECONDS + Math.ceil((requests * timeoutSeconds) / concurrency / 100));
}

/**
 * Every point of the stack, in run order. Grouped: Service counts in the order given (aws passes
 * them ascending: its fleet only grows), then conn_reuse_mode, repetition, response size, keep-alive
 * and the tool's load; points of one Service count are consecutive, so the fleet is programmed once
 * per count. Alternating: repetition, then the Service counts (reversed on even repetitions), then
 * the rest as above.
 */
export function gridPoints(spec: Spec, o: GridOptions = {}): GridPoint[] {
  const w = spec.workload;
  const p = spec.proxy;
  const counts: (number | undefined)[] = p ? p.services : [undefined];
  const reuseModes: (number | undefined)[] = p?.mode === 'ipvs' ? p.ipvs.connReuseMode : [undefined];
  const reps = Array.from({ length: spec.repetitions }, (_, i) => i + 1);
  // The (Service count, conn_reuse_mode, repetition) cells in run order.
  const cells: [number | undefined, number | undefined, number][] =
    o.order === 'alternating'
      ? reps.flatMap((r) =>
          (r % 2 ? counts : [...counts].reverse()).flatMap((s) => reuseModes.map((m): [number | undefined, number | undefined, number] => [s, m, r])),
        )
      : counts.flatMap((s) => reuseModes.flatMap((m) => reps.map((r): [number | undefined, number | undefined, number] => [s, m, r])));
  const out: GridPoint[] = [];
  for (const [services, connReuseMode, repetition] of cells) {
    const extra = {
      ...(services !== undefined ? { services, proxyMode: p!.mode, target: p!.target } : {}),
      ...(connReuseMode !== undefined ? { connReuseMode } : {}),
    };
    for (const responseBytes of spec.server.responseBytes) {
      const push = (tool: Tool, params: PointParams, timeoutSeconds: number) => {
        const all = { ...params, ...extra };
        out.push({ id: pointId(tool, all, repetition), tool, repetition, params: all, timeoutSeconds });
      };
      if (w.tool === 'conn-reuse') {
        const load = o.connReuseWorkers !== undefined ? { concurrency: o.connReuseWorkers } : { rate: w.rate, requestsPerConnection: 1 };
        push('conn-reuse', { responseBytes, keepalive: false, ...load, durationSeconds: w.durationSeconds }, w.durationSeconds + w.timeoutSeconds + 30);
      } else if (w.tool === 'tcpkali') {
        for (const rate of w.rate)
          push('tcpkali', { responseBytes, keepalive: true, rate, connections: w.connections, durationSeconds: w.durationSeconds }, w.durationSeconds + 120);
      } else
        for (const keepalive of w.keepalive) {
          if (w.tool === 'ab')
            for (const concurrency of w.concurrency)
              push('ab', { responseBytes, keepalive, concurrency, requests: w.requests }, abTimeoutSeconds(w.requests, w.timeoutSeconds, concurrency));
          else if (w.tool === 'wrk')
            for (const connections of w.connections)
              push(
                'wrk',
                { responseBytes, keepalive, connections, threads: w.threads, durationSeconds: w.durationSeconds },
                w.durationSeconds + w.timeoutSeconds + 15,
              );
          else
            for (const rate of w.rate)
              push(
                'rps',
                { responseBytes, keepalive, rate, requestsPerConnection: keepalive ? w.requestsPerConnection : 1, durationSeconds: w.durationSeconds },
                w.durationSeconds + w.timeoutSeconds + 30,
              );
        }
    }
  }
  return out;
}
