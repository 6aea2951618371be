// CPU topology and the kernel's CPU-set notations. Pure: text in, numbers out.

export interface Cpu {
  cpu: number;
  core: number;
  socket: number;
  node: number;
}

export interface Topology {
  cpus: Cpu[];
}

/**
 * `lscpu -p=CPU,CORE,SOCKET,NODE` (or plain `lscpu -p`, whose first four columns are the same):
 * one line per logical CPU, `#` comment lines first. A missing NODE (no NUMA) counts as node 0.
 */
export function parseLscpuP(text: string): Topology {
  const cpus: Cpu[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(',');
    const [cpu, core, socket] = f.slice(0, 3).map((x) => Number(x));
    const node = f[3] === undefined || f[3] === '' ? 0 : Number(f[3]);
    if (![cpu, core, socket, node].every((n) => Number.isInteger(n) && n! >= 0))
      throw new Error(`lscpu -p line ${i + 1}: expected CPU,Core,Socket,Node numbers, got ${JSON.stringify(raw)}`);
    cpus.push({ cpu: cpu!, core: core!, socket: socket!, node });
  }
  if (!cpus.length) throw new Error('lscpu -p output lists no CPU');
  return { cpus: cpus.sort((a, b) => a.cpu - b.cpu) };
}

/** NUMA nodes in order, each with its CPUs in order. */
export function nodes(t: Topology): number[][] {
  const by = new Map<number, number[]>();
  for (const c of t.cpus) by.set(c.node, [...(by.get(c.node) ?? []), c.cpu]);
  return [...by.keys()].sort((a, b) => a - b).map((n) => by.get(n)!);
}

/** The first logical CPU of every physical core (hyperthread siblings left out). */
export function physicalCpus(t: Topology): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (const c of t.cpus) {
    const key = `${c.socket}/${c.core}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c.cpu);
  }
  return out;
}

/**
 * The kernel's CPU mask format (rps_cpus, xps_cpus, smp_affinity): hex, in comma-separated
 * 32-bit words, most significant first, as many words as `nCpus` needs.
 */
export function cpuMask(cpus: number[], nCpus: number): string {
  const words = Math.max(1, Math.ceil(nCpus / 32));
  const w = new Array<number>(words).fill(0);
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= nCpus) throw new Error(`CPU ${c} is outside 0-${nCpus - 1}`);
    w[Math.floor(c / 32)] = (w[Math.floor(c / 32)]! | (1 << (c % 32))) >>> 0;
  }
  return w
    .reverse()
    .map((x) => x.toString(16).padStart(8, '0'))
    .join(',');
}

/** `0-8,18-26` → [0..8, 18..26]. */
export function parseCpuList(s: string): number[] {
  const out: number[] = [];
  for (const part of s.trim().split(',').filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`bad CPU list ${JSON.stringify(s)}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`bad CPU range ${part}`);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/** [0..8, 18..26] → `0-8,18-26`. */
export function formatCpuList(cpus: number[]): string {
  const s = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
