// The real Pulumi engine (root): a small local stack goes up and is destroyed through the
// Automation API, with the CLI and plugins from scripts/install-tools.sh, the project's
// PULUMI_HOME and a file backend in a temporary directory. Checks the run's result.json and that
// nothing of the stack is left. Skipped, with the reason, when the tools are not installed or
// the test does not run as root.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { assertNothingLeft } from './helpers/nothing-left.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pins = Object.fromEntries(
  readFileSync(join(root, 'tools', 'versions.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split('=', 2) as [string, string]),
);
const toolsRoot = process.env.NETLAB_TOOLS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'netlab', 'tools');
const pulumiHome = join(root, '.pulumi');

/** Why the engine cannot run here, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (the local target builds network namespaces)';
  const bin = join(toolsRoot, 'bin', 'pulumi');
  let v = '';
  try {
    v = execFileSync(bin, ['version'], { encoding: 'utf8', env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: 'true' } }).trim();
  } catch {
    return `no Pulumi CLI at ${bin}: run scripts/install-tools.sh`;
  }
  if (v !== `v${pins.PULUMI_VERSION}`) return `${bin} is ${v}, not v${pins.PULUMI_VERSION}: run scripts/install-tools.sh`;
  if (!existsSync(join(pulumiHome, 'plugins', `resource-command-v${pins.COMMAND_VERSION}`))) return `no command plugin in ${pulumiHome}: run scripts/install-tools.sh`;
  return null;
}

const why = missing();
const maybe = why ? test.skip : test;
const stackName = `pe-${process.pid}`;
const stackFile = join(root, 'stacks', `Pulumi.${stackName}.yaml`);

maybe(`pulumi up and destroy of a local stack by the real engine${why ? ` (skipped: ${why})` : ''}`, async (t) => {
  t.timeout(10 * 60_000);
  // local-host, cut down to one short point: the engine is under test, not the datapath.
  const doc = YAML.parse(readFileSync(join(root, 'stacks', 'Pulumi.local-host.yaml'), 'utf8'));
  doc.config['netlab:description'] = 'real-engine test (test/pulumi-engine.test.ts)';
  doc.config['netlab:workload'] = { ...doc.config['netlab:workload'], durationSeconds: 1, connections: [1] };
  doc.config['netlab:repetitions'] = 1;
  doc.config['netlab:warmupSeconds'] = 0;
  const text = YAML.stringify(doc);
  writeFileSync(stackFile, text);
  const backend = mkdtempSync(join(tmpdir(), 'netlab-pe-'));
  const { LocalWorkspace, PulumiCommand } = await import('@pulumi/pulumi/automation/index.js');
  const pulumiCommand = await PulumiCommand.get({ root: toolsRoot });
  const envVars = {
    PULUMI_HOME: pulumiHome,
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: 'netlab-engine-test',
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
  };
  const log: string[] = [];
  const onOutput = (s: string) => log.push(s);
  const stack = await LocalWorkspace.createStack({ stackName, workDir: root }, { pulumiCommand, envVars });
  // `pulumi stack init` rewrites the stack file in Pulumi's form: integers become strings ("1"),
  // which netlab's own reader (netlab up <file>, the command's create) refuses, and it adds the
  // passphrase salt. Keep netlab's form plus the salt (the later commands leave the file alone).
  const salt = readFileSync(stackFile, 'utf8').match(/^encryptionsalt: .*$/m)?.[0];
  t.truthy(salt, 'stack init wrote the passphrase salt');
  writeFileSync(stackFile, `${text}${salt}\n`);
  let destroyed = false;
  try {
    const up = await stack.up({ onOutput, color: 'never' });
    t.is(up.summary.result, 'succeeded');
    t.is(up.summary.resourceChanges?.create, 3, 'stack, component and command created');
    t.is(up.outputs.target?.value, 'local');
    const summary = JSON.parse(String(up.outputs.summary?.value)) as { runs: { stack: string; status: string; dir: string }[] };
    t.is(summary.runs[0]?.stack, stackName);
    t.is(summary.runs[0]?.status, 'ok');
    const result = JSON.parse(readFileSync(join(summary.runs[0]!.dir, 'result.json'), 'utf8')) as { stack: string; status: string; points?: unknown[] };
    t.is(result.stack, stackName);
    t.is(result.status, 'ok');
    // A second up with the same spec changes nothing (the trigger is the spec's hash).
    const again = await stack.up({ onOutput, color: 'never' });
    t.deepEqual(again.summary.resourceChanges, { same: 3 });
    const down = await stack.destroy({ onOutput, color: 'never' });
    destroyed = true;
    t.is(down.summary.result, 'succeeded');
    t.is(down.summary.resourceChanges?.delete, 3);
    await assertNothingLeft(t, stackName);
  } catch (e) {
    t.log(log.join('').split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    if (!destroyed) await stack.destroy({ color: 'never' }).catch((e: Error) => t.log(`destroy after failure: ${e.message}`));
    await stack.workspace.removeStack(stackName).catch(() => {});
    rmSync(stackFile, { force: true });
    rmSync(backend, { recursive: true, force: true });
    rmSync(join(root, 'results', stackName), { recursive: true, force: true });
  }
});
