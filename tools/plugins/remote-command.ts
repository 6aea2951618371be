// `command:remote:Command` of netlab's stand-in command provider: the inputs netlab's remote flow
// uses, carried over a real SSH session by OpenSSH's client (the upstream provider uses Go's SSH
// library; its module is not served here). connection: host, port, user, privateKey,
// dialErrorLimit, perDialTimeout; create, update, delete (run by the login shell on the host);
// stdin (to create and update); triggers (a change replaces the resource); logging. A host key is
// accepted on first sight and remembered nowhere, as upstream does. The private key lives in a
// 0600 file for the length of one call and is never logged.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshOptions } from '../../lib/core/ssh.ts';

export const REMOTE_COMMAND = 'command:remote:Command';
export const REMOTE_SUPPORTED = new Set(['connection', 'create', 'update', 'delete', 'stdin', 'triggers', 'logging']);
const CONNECTION_SUPPORTED = new Set(['host', 'port', 'user', 'privateKey', 'dialErrorLimit', 'perDialTimeout']);

export interface Connection {
  host: string;
  port?: number;
  user?: string;
  privateKey?: string;
  dialErrorLimit?: number;
  perDialTimeout?: number;
}

export interface RemoteCommandInputs {
  connection: Connection;
  create?: string;
  update?: string;
  delete?: string;
  stdin?: string;
  triggers?: unknown[];
  logging?: string;
}

/** What this stand-in refuses in a remote command's inputs, before anything runs. */
export function remoteCheckFailures(news: Record<string, unknown>): { property: string; reason: string }[] {
  const out: { property: string; reason: string }[] = [];
  for (const k of Object.keys(news))
    if (!REMOTE_SUPPORTED.has(k) && news[k] !== undefined && !(k === 'addPreviousOutputInEnv'))
      out.push({ property: k, reason: `netlab's ${REMOTE_COMMAND} stand-in does not support "${k}" (supported: ${[...REMOTE_SUPPORTED].join(', ')})` });
  const c = news.connection as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object' || !c.host) out.push({ property: 'connection', reason: 'connection.host is required' });
  else {
    for (const k of Object.keys(c))
      if (!CONNECTION_SUPPORTED.has(k) && c[k] !== undefined && c[k] !== null)
        out.push({
          property: `connection.${k}`,
          reason: `netlab's stand-in connects with a private key only (supported: ${[...CONNECTION_SUPPORTED].join(', ')})`,
        });
    if (!c.privateKey) out.push({ property: 'connection.privateKey', reason: "netlab's stand-in needs connection.privateKey (no agent, no password)" });
  }
  return out;
}

/** ssh's own exit status for a failure to connect or authenticate (the command never ran). */
const SSH_FAILED = 255;
/** Failures worth another dial: the host is not up yet or the network is slow; not a refused key. */
export const RETRYABLE =
  /Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|Connection reset|Connection closed|kex_exchange_identification|Could not resolve/i;

/** The argv of one ssh session running `cmd` on the host. */
export function sshArgv(c: Connection, keyFile: string, cmd: string): string[] {
  return [
    ...sshOptions({ keyFile, port: c.port ?? 22, connectTimeout: c.perDialTimeout ?? 15 }),
    '-o',
    'ServerAliveInterval=30',
    `${c.user ?? 'root'}@${c.host}`,
    cmd,
  ];
}

const running = new Set<ChildProcess>();
export const runningRemote = () => running;

function once(c: Connection, keyFile: string, cmd: string, stdin: string | undefined, logging: string, sink: (s: string) => void) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('ssh', sshArgv(c, keyFile, cmd), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (logging === 'stdout' || logging === 'stdoutAndStderr') sink(b.toString());
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (logging === 'stderr' || logging === 'stdoutAndStderr') sink(b.toString());
    });
    child.on('error', (e) => {
      running.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ?? '');
  });
}

/**
 * Runs `cmd` on the connection's host with `stdin`; retries a failed dial up to dialErrorLimit
 * times (1 s apart; -1: 100 times), never a command that ran. Fails on a non-zero exit with the
 * tail of its stderr, as upstream does.
 */
export async function runRemote(
  c: Connection,
  cmd: string,
  o: { stdin?: string | undefined; logging?: string | undefined; sink?: (s: string) => void } = {},
): Promise<{ stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-cmd-'));
  const keyFile = join(dir, 'key');
  const key = c.privateKey ?? '';
  writeFileSync(keyFile, key.endsWith('\n') ? key : `${key}\n`, { mode: 0o600 });
  const limit = c.dialErrorLimit === undefined ? 10 : c.dialErrorLimit < 0 ? 100 : Math.max(1, c.dialErrorLimit);
  const sink = o.sink ?? ((s: string) => process.stderr.write(s));
  try {
    for (let dial = 1; ; dial++) {
      const r = await once(c, keyFile, cmd, o.stdin, o.logging ?? 'stdoutAndStderr', sink);
      const trim = (s: string) => s.replace(/\n$/, '');
      if (r.code === 0) return { stdout: trim(r.stdout), stderr: trim(r.stderr) };
      if (r.code === SSH_FAILED && RETRYABLE.test(r.stderr) && dial < limit) {
        await new Promise((res) => setTimeout(res, 1000));
        continue;
      }
      const tail = trim(r.stderr).split('\n').slice(-20).join('\n');
      const what =
        r.code === SSH_FAILED
          ? `ssh to ${c.user ?? 'root'}@${c.host}:${c.port ?? 22} failed after ${dial} dial${dial > 1 ? 's' : ''}`
          : `exit status ${r.code}`;
      throw new Error(`${r.signal ? `killed by ${r.signal}` : what}: running ${JSON.stringify(cmd)} on ${c.host}${tail ? `:\n${tail}` : ''}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
