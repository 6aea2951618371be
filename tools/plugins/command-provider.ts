// netlab's stand-in for the `command` resource plugin (pulumi-resource-command), for where the
// upstream binary cannot be had (its Go module is not served by the module proxies this project
// can reach, and plugin downloads are blocked). On the SDK's own provider server
// (@pulumi/pulumi/provider) it implements, with the inputs netlab uses:
//   command:local:Command: create, update, delete (shell commands, run by /bin/sh -c), dir,
//     environment, triggers (a change replaces the resource), logging (stdout | stderr |
//     stdoutAndStderr | none);
//   command:remote:Command: the same over a real SSH session (OpenSSH's client; remote-command.ts):
//     connection (host, port, user, privateKey, dialErrorLimit, perDialTimeout), create, update,
//     delete, stdin, triggers, logging.
// Outputs are the inputs plus stdout and stderr, as upstream. Anything else is refused at check
// time with what to install instead, before anything is created.
//
// Started by the engine as `pulumi-resource-command <engine address>`; prints its port. Commands run
// in their own process group; Cancel, SIGINT and SIGTERM stop them with SIGTERM (see the end).
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as provider from '@pulumi/pulumi/provider/index.js';
import { REMOTE_COMMAND, REMOTE_SUPPORTED, remoteCheckFailures, runRemote, runningRemote, type RemoteCommandInputs } from './remote-command.ts';

export const VERSION = '1.2.1';
export const LOCAL_COMMAND = 'command:local:Command';
const SUPPORTED = new Set(['create', 'update', 'delete', 'dir', 'environment', 'triggers', 'logging']);
const LOGGING = new Set(['stdout', 'stderr', 'stdoutAndStderr', 'none']);

/** The SDK's wire markers: a secret value and an output value with dependencies. */
const SIG = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';
const OUTPUT_SIG = 'd0e6a833031e9bbcd3f4e8bde6ca49a4';

/** Inputs as plain values: secrets and output values unwrapped (the commands are not secret here). */
export function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o[SIG] === SECRET_SIG || o[SIG] === OUTPUT_SIG) return plain(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

export interface LocalCommandInputs {
  create?: string;
  update?: string;
  delete?: string;
  dir?: string;
  environment?: Record<string, string>;
  triggers?: unknown[];
  logging?: string;
}

const typeOf = (urn: string) => urn.split('::')[2]?.split('$').pop() ?? '';

/** Check failures for a resource's inputs: the resource type and keys this stand-in supports. */
export function checkFailures(urn: string, news: Record<string, unknown>): provider.CheckFailure[] {
  const type = typeOf(urn);
  if (type === REMOTE_COMMAND) return remoteCheckFailures(news);
  if (type !== LOCAL_COMMAND)
    return [
      {
        property: '',
        reason: `${type} needs the real command provider (pulumi-resource-command ${VERSION}); netlab's stand-in implements ${LOCAL_COMMAND} and ${REMOTE_COMMAND}. Install the upstream plugin: pulumi plugin install resource command ${VERSION}`,
      },
    ];
  const out: provider.CheckFailure[] = [];
  for (const k of Object.keys(news))
    if (!SUPPORTED.has(k))
      out.push({ property: k, reason: `netlab's ${LOCAL_COMMAND} stand-in does not support "${k}" (supported: ${[...SUPPORTED].join(', ')})` });
  if (news.logging !== undefined && !LOGGING.has(String(news.logging)))
    out.push({ property: 'logging', reason: `logging must be one of ${[...LOGGING].join(', ')}` });
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** What a change of inputs does: triggers replace, the other inputs update in place (upstream's rules). */
export function diffInputs(
  olds: LocalCommandInputs | RemoteCommandInputs,
  news: LocalCommandInputs | RemoteCommandInputs,
  keys: Set<string> = SUPPORTED,
): provider.DiffResult {
  const o = olds as Record<string, unknown>;
  const n = news as Record<string, unknown>;
  const changed = [...keys].filter((k) => !same(o[k], n[k]));
  return { changes: changed.length > 0, replaces: changed.filter((k) => k === 'triggers') };
}

const running = new Set<ChildProcess>();

/** Runs one command as upstream does: `/bin/sh -c`, in `dir`, with `environment`; fails on a non-zero exit. */
export function runCommand(
  cmd: string,
  inputs: LocalCommandInputs,
  sink: (s: string) => void = (s) => process.stderr.write(s),
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // In its own process group, so that stopping it reaches the command's own children too
    // (`/bin/sh -c` may not exec the last command), and a Ctrl-C to the engine's group is passed
    // on by stopCommands (SIGTERM: `netlab up` tears down on it) rather than racing it.
    const child = spawn('/bin/sh', ['-c', cmd], {
      cwd: inputs.dir || process.cwd(),
      env: { ...process.env, ...(inputs.environment ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(child);
    const logging = inputs.logging ?? 'stdoutAndStderr';
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
      const trim = (s: string) => s.replace(/\n$/, '');
      if (code === 0) return resolve({ stdout: trim(stdout), stderr: trim(stderr) });
      const tail = trim(stderr).split('\n').slice(-20).join('\n');
      reject(new Error(`${signal ? `killed by ${signal}` : `exit status ${code}`}: running ${JSON.stringify(cmd)}${tail ? `:\n${tail}` : ''}`));
    });
  });
}

/** Stops every running command: SIGTERM to its process group. Resolves when all have exited. */
export function stopCommands(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const waits = [...running, ...runningRemote()].map(
    (c) =>
      new Promise<void>((res) => {
        if (c.exitCode !== null || c.signalCode !== null) return res();
        c.once('close', () => res());
        try {
          process.kill(-c.pid!, signal);
        } catch {
          c.kill(signal);
        }
      }),
  );
  return Promise.all(waits).then(() => {});
}

/** How many commands are running (for tests). */
export const runningCommands = () => running.size;

/** Runs a resource's command for one operation (update falls back to create, as upstream); null when it has none. */
async function runFor(urn: string, props: unknown, op: 'create' | 'update' | 'delete'): Promise<{ stdout: string; stderr: string } | null> {
  if (typeOf(urn) === REMOTE_COMMAND) {
    const i = plain(props) as RemoteCommandInputs;
    const cmd = op === 'update' ? (i.update ?? i.create) : i[op];
    if (!cmd) return null;
    // stdin goes to create and update; delete gets none.
    return runRemote(i.connection, cmd, { stdin: op === 'delete' ? undefined : i.stdin, logging: i.logging });
  }
  const i = plain(props) as LocalCommandInputs;
  const cmd = op === 'update' ? (i.update ?? i.create) : i[op];
  return cmd ? runCommand(cmd, i) : null;
}

const randomId = () => Math.random().toString(16).slice(2, 10).padEnd(8, '0');

export const commandProvider: provider.Provider = {
  version: VERSION,
  async check(urn, _olds, news) {
    const inputs = plain(news) as Record<string, unknown>;
    return { inputs: news, failures: checkFailures(urn, inputs) };
  },
  async diff(_id, urn, olds, news) {
    const remote = typeOf(urn) === REMOTE_COMMAND;
    return diffInputs(plain(olds) as LocalCommandInputs, plain(news) as LocalCommandInputs, remote ? REMOTE_SUPPORTED : SUPPORTED);
  },
  async create(urn, inputs) {
    const out = await runFor(urn, inputs, 'create');
    return { id: randomId(), outs: { ...(inputs as object), ...(out ?? { stdout: '', stderr: '' }) } };
  },
  async update(_id, urn, olds, news) {
    const prev = plain(olds) as { stdout?: string; stderr?: string };
    const out = await runFor(urn, news, 'update');
    return { outs: { ...(news as object), ...(out ?? { stdout: prev.stdout ?? '', stderr: prev.stderr ?? '' }) } };
  },
  async delete(_id, urn, props) {
    await runFor(urn, props, 'delete');
  },
};

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  // Cancel (the engine's, on Ctrl-C): stop the running commands; their failure is the create's
  // answer, so keep serving. SIGINT is how the engine closes a plugin (to its process group, then
  // SIGKILL after 5 s), SIGTERM how others end it: stop the commands (SIGTERM: `netlab up` tears
  // down; it runs in its own group, so it finishes that even if this process is killed), wait
  // for them, exit. With nothing running that is at once: no 5-second wait at every close.
  const end = (code: number) => () => void stopCommands().finally(() => process.exit(code));
  process.on('SIGINT', end(0));
  process.on('SIGTERM', end(143));
  provider.main({ ...commandProvider, cancel: () => stopCommands() } as provider.Provider, process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`netlab command provider: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
