// The server host's side of a two-VM run (netlab:vm.hosts = 2). The client VM runs `netlab up`; the
// plan's steps tagged `server`, and the reads, writes and teardown of the server host, reach the
// server VM through this agent. It listens on the control link, a wire of its own between the two
// guests' root namespaces (lib/vm/run.ts): no lab namespace and nothing of this machine is on it, so
// only the client VM's netlab can reach it. One JSON object per line each way; requests carry an
// id, and answers may come in any order.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { type ExecResult, run } from '../core/exec.ts';
import { readIfExists, writeFiles } from '../core/files.ts';
import { listNamespaces, type TeardownReport, teardownStack } from '../local/state.ts';

/** The control link: the server VM's address and the agent's port (lib/vm/guest-init.sh sets it up). */
export const AGENT = { clientIp: '169.254.77.1', serverIp: '169.254.77.2', prefix: 30, port: 7077 } as const;

/** What lib/vm/guest-init.sh names each VM's NIC on the lab's wire (the plan makes it the host namespace's eth0). */
export const GUEST_WIRE_NIC = 'wire';

/** A file to write on the server host: text, or `fill` bytes of "x" (response bodies). */
export interface AgentFile {
  path: string;
  content?: string;
  fill?: number;
}

export type AgentRequest =
  | { op: 'run'; argv: string[]; timeoutMs: number }
  | { op: 'read'; path: string }
  | { op: 'write'; files: AgentFile[] }
  | { op: 'namespaces'; prefix: string }
  | { op: 'teardown'; stack: string; namespaces: string[]; cgroups: string[] }
  | { op: 'clock' };

type Answer = ExecResult | string | string[] | TeardownReport | number | null;

/** Carry out one request on this host. A read of a missing file answers null. */
export async function handle(req: AgentRequest): Promise<Answer> {
  switch (req.op) {
    case 'run':
      return run(req.argv, { check: false, timeoutMs: req.timeoutMs });
    case 'read':
      return readIfExists(req.path);
    case 'write':
      writeFiles(req.files);
      return null;
    case 'namespaces':
      return listNamespaces(req.prefix);
    case 'teardown':
      return teardownStack(req.stack, { namespaces: req.namespaces, cgroups: req.cgroups });
    case 'clock':
      return Date.now();
    default:
      throw new Error(`unknown request ${JSON.stringify((req as { op: unknown }).op)}`);
  }
}

/** Serve requests on host:port until the VM powers off. Requests on one connection run one at a time. */
export function serveAgent(host: string, port: number): Promise<Server> {
  const server = createServer((sock) => {
    let chain = Promise.resolve();
    const lines = createInterface({ input: sock }).on('error', () => {});
    lines.on('line', (line) => {
      chain = chain.then(async () => {
        let id: unknown = null;
        try {
          const msg = JSON.parse(line) as AgentRequest & { id: number };
          id = msg.id;
          sock.write(`${JSON.stringify({ id, ok: true, value: await handle(msg) })}\n`);
        } catch (e) {
          sock.write(`${JSON.stringify({ id, ok: false, error: (e as Error).message })}\n`);
        }
      });
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** The client VM's end: one connection, requests in flight matched to answers by id. */
export class AgentClient {
  private next = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed: Error | null = null;

  private constructor(private sock: Socket) {
    // readline passes the socket's errors on: handled below, on the socket itself.
    const lines = createInterface({ input: sock }).on('error', () => {});
    lines.on('line', (line) => {
      const m = JSON.parse(line) as { id: number; ok: boolean; value?: unknown; error?: string };
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`on the server host: ${m.error}`));
    });
    const fail = (why: string) => {
      this.closed = new Error(`the server host's agent is gone (${why})`);
      for (const w of this.waiting.values()) w.reject(this.closed);
      this.waiting.clear();
    };
    sock.on('error', (e) => fail(e.message));
    sock.on('close', () => fail('connection closed'));
  }

  /** Connect, retrying while the server VM boots: at most `waitMs`. */
  static async connect(host: string, port: number, waitMs: number): Promise<AgentClient> {
    const until = Date.now() + waitMs;
    let last = '';
    while (Date.now() < until) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection({ host, port }, () => resolve(s));
          s.once('error', reject);
          s.setTimeout(5000, () => s.destroy(new Error('connect timed out')));
        });
        sock.setTimeout(0);
        sock.removeAllListeners('error');
        return new AgentClient(sock);
      } catch (e) {
        last = (e as Error).message;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw new Error(`the server host's agent at ${host}:${port} did not answer within ${Math.round(waitMs / 1000)} s (${last})`);
  }

  call<T>(req: AgentRequest): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  /** A command on the server host; rejects like lib/core/exec.ts run when `check` and it failed. */
  async run(argv: string[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExecResult> {
    if (opts.signal?.aborted) throw new Error('interrupted');
    const r = await this.call<ExecResult>({ op: 'run', argv, timeoutMs: opts.timeoutMs ?? 30_000 });
    if (opts.signal?.aborted) throw new Error('interrupted');
    return r;
  }

  /**
   * The server VM's clock minus this one's, in ms: each VM sets its clock from qemu's RTC at boot,
   * to the whole second, so two guests can differ by up to a second. Taken from the fastest of a
   * few round trips, halfway through it.
   */
  async clockOffsetMs(): Promise<{ offsetMs: number; rttMs: number }> {
    let best = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY };
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const there = await this.call<number>({ op: 'clock' });
      const t1 = Date.now();
      if (t1 - t0 < best.rttMs) best = { offsetMs: there - (t0 + t1) / 2, rttMs: t1 - t0 };
    }
    return best;
  }

  close(): void {
    this.closed ??= new Error('closed');
    this.sock.end();
  }
}
