// `netlab bench-pulumi`: what the Pulumi engine costs on top of netlab. Times the tools install
// (warm: the cache as it is; cold, on request: an empty temporary tools cache and Go build cache,
// so the CLI is built again), then runs one stack both ways in one go: `netlab up` directly, and
// `pulumi up` + `pulumi destroy` (stack init and rm untimed) against a temporary file backend,
// on a temporary copy of the stack file (stacks/Pulumi.pe-bench-<pid>.yaml, git-ignored) so the
// shipped file is never rewritten by `pulumi stack init`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineMissing, pulumiBinary, pulumiEnv } from './tools.ts';
import { locateStack } from '../spec/stackfile.ts';

export interface PulumiBench {
  stack: string;
  installWarmSeconds: number;
  installColdSeconds: number | null;
  netlabUpSeconds: number;
  pulumiUpSeconds: number;
  pulumiDestroySeconds: number;
  /** (pulumi up + destroy) ÷ netlab up. */
  ratio: number;
}

interface Ran {
  code: number | null;
  out: string;
  seconds: number;
}

function run(cmd: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; signal?: AbortSignal }): Promise<Ran> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const stop = () => child.kill('SIGINT');
    o.signal?.addEventListener('abort', stop);
    child.on('error', reject);
    child.on('close', (code) => {
      o.signal?.removeEventListener('abort', stop);
      resolve({ code, out, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

const must = (what: string, r: Ran): Ran => {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out.split('\n').slice(-15).join('\n')}`);
  return r;
};

export async function benchPulumi(o: {
  projectDir: string;
  stack: string;
  cold?: boolean;
  log: (line: string) => void;
  signal?: AbortSignal;
}): Promise<PulumiBench> {
  const { name: source, path } = locateStack(o.stack);
  const env = process.env;
  const install = join(o.projectDir, 'scripts', 'install-tools.sh');
  let installColdSeconds: number | null = null;
  if (o.cold) {
    const cache = mkdtempSync(join(tmpdir(), 'netlab-tools-cold-'));
    try {
      o.log(`install, cold: an empty tools cache (${cache}) and Go build cache; the Go module cache stays (downloads are the network's time)`);
      installColdSeconds = must(
        'cold install',
        await run('bash', [install], { cwd: o.projectDir, env: { ...env, NETLAB_TOOLS_CACHE: cache, GOCACHE: join(cache, 'go-build') }, signal: o.signal }),
      ).seconds;
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  o.log('install, warm');
  const installWarmSeconds = must('install', await run('bash', [install], { cwd: o.projectDir, env, signal: o.signal })).seconds;
  const missing = engineMissing({ projectDir: o.projectDir });
  if (missing) throw new Error(`the Pulumi engine cannot run here: ${missing}`);

  const name = `pe-bench-${process.pid}`;
  const file = join(o.projectDir, 'stacks', `Pulumi.${name}.yaml`);
  const backend = mkdtempSync(join(tmpdir(), 'netlab-bench-state-'));
  const base = { ...env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: 'netlab-bench' };
  const penv = { ...base, ...pulumiEnv({ projectDir: o.projectDir, env: base }) };
  const pulumi = pulumiBinary(penv)!;
  const p = (args: string[]) => run(pulumi, [...args, '-s', name, '--non-interactive'], { cwd: o.projectDir, env: penv, signal: o.signal });
  writeFileSync(file, readFileSync(path, 'utf8'));
  try {
    o.log(`netlab up ${source} (as ${name})`);
    const direct = must(
      'netlab up',
      await run(process.execPath, [join(o.projectDir, 'bin', 'netlab.js'), 'up', '--json', file], { cwd: o.projectDir, env, signal: o.signal }),
    );
    must('pulumi stack init', await run(pulumi, ['stack', 'init', name, '--non-interactive'], { cwd: o.projectDir, env: penv }));
    o.log(`pulumi up ${name}`);
    const up = must('pulumi up', await p(['up', '--yes', '--skip-preview']));
    o.log(`pulumi destroy ${name}`);
    const down = must('pulumi destroy', await p(['destroy', '--yes']));
    return {
      stack: source,
      installWarmSeconds,
      installColdSeconds,
      netlabUpSeconds: direct.seconds,
      pulumiUpSeconds: up.seconds,
      pulumiDestroySeconds: down.seconds,
      ratio: (up.seconds + down.seconds) / direct.seconds,
    };
  } finally {
    await p(['destroy', '--yes']).catch(() => {});
    await run(pulumi, ['stack', 'rm', '--yes', '--force', '-s', name, '--non-interactive'], { cwd: o.projectDir, env: penv }).catch(() => {});
    await run(process.execPath, [join(o.projectDir, 'bin', 'netlab.js'), 'down', name], { cwd: o.projectDir, env }).catch(() => {});
    rmSync(file, { force: true });
    rmSync(backend, { recursive: true, force: true });
    rmSync(join(o.projectDir, 'results', name), { recursive: true, force: true });
  }
}

export function renderPulumiBench(b: PulumiBench): string {
  const s = (x: number) => `${x.toFixed(1)} s`;
  return [
    `tools install, warm:        ${s(b.installWarmSeconds)}`,
    `tools install, cold:        ${b.installColdSeconds === null ? '(not measured; --cold)' : s(b.installColdSeconds)}`,
    `${b.stack}:`,
    `  netlab up:                ${s(b.netlabUpSeconds)}`,
    `  pulumi up:                ${s(b.pulumiUpSeconds)}`,
    `  pulumi destroy:           ${s(b.pulumiDestroySeconds)}`,
    `  pulumi up + destroy:      ${s(b.pulumiUpSeconds + b.pulumiDestroySeconds)}  = ${b.ratio.toFixed(2)} × netlab up`,
  ].join('\n');
}
