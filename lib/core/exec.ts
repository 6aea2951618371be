// The one place that starts processes. Bounded in time; killable through an AbortSignal.
import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
  timedOut: boolean;
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly argv: string[],
    readonly result: ExecResult,
  ) {
    const why = result.timedOut ? 'timed out' : result.signal ? `killed by ${result.signal}` : `exit ${result.code}`;
    super(`${argv.join(' ')}: ${why}${result.stderr.trim() ? `: ${result.stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`);
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Throw CommandError on a non-zero exit (default true). */
  check?: boolean;
}

/**
 * System tools only: under npm, node_modules/.bin comes first on PATH, and it holds a `nft` (a
 * JavaScript file tracer pulled in by @pulumi/pulumi) that would shadow nftables' nft, also for
 * commands started through `ip netns exec`.
 */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const { timeoutMs = 30_000, signal, check = true } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('interrupted'));
    const t0 = process.hrtime.bigint();
    // Each command in its own process group: a Ctrl-C on the terminal reaches netlab alone, which
    // stops what it runs through `signal`, and never kills a teardown command half-way.
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: SYSTEM_PATH }, detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const kill = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = () => kill();
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(`${argv[0]}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : e.message}`));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const r: ExecResult = { code, signal: sig, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9, timedOut };
      if (signal?.aborted) return reject(new Error('interrupted'));
      if (check && code !== 0) return reject(new CommandError(argv, r));
      resolve(r);
    });
  });
}
