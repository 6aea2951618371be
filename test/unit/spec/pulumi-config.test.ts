import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { localResultDir, specFromPulumiConfig } from '../../../lib/spec/pulumi-config.ts';
import { loadStack, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import { SpecError } from '../../../lib/spec/errors.ts';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const registered: Registered[] = [];
await pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      registered.push({ type: a.type, name: a.name, inputs: a.inputs });
      return { id: `${a.name}-id`, state: { ...a.inputs, stdout: '{"runs":[]}' } };
    },
    call: (a) => a.inputs,
  },
  'netlab',
  'local-hostgw',
  false,
);
const { LocalExperiment } = await import('../../../components/local-experiment.ts');

const out = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));

test('Pulumi.yaml: project netlab, nodejs with TypeScript, main index.ts, stacks/ as config dir', (t) => {
  const p = parse(readFileSync(join(PROJECT_DIR, 'Pulumi.yaml'), 'utf8'));
  t.is(p.name, 'netlab');
  t.deepEqual(p.runtime.name, 'nodejs');
  t.true(p.runtime.options.typescript);
  t.is(p.main, 'index.ts');
  t.is(p.stackConfigDir, 'stacks');
  // Declared defaults agree with the spec's own defaults.
  const d = loadStack('local-host');
  const defaults = specFromPulumiConfig('x', {});
  for (const [k, v] of Object.entries(p.config as Record<string, { type: string; default: unknown }>)) {
    t.is(v.default, (defaults as unknown as Record<string, unknown>)[k], `default of ${k}`);
    t.is(v.type, typeof v.default === 'number' ? 'integer' : 'string');
  }
  t.is(d.target, 'local');
});

test('engine config (JSON-encoded objects, plain strings) becomes the same spec as the stack file', (t) => {
  const doc = parse(readFileSync(join(PROJECT_DIR, 'stacks', 'Pulumi.local-vxlan.yaml'), 'utf8')).config as Record<string, unknown>;
  const engine = Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  t.deepEqual(specFromPulumiConfig('local-vxlan', engine), loadStack('local-vxlan'));
  t.throws(() => specFromPulumiConfig('s', { 'netlab:datapath': 'flannel' }), {
    instanceOf: SpecError,
    message: /Pulumi stack s: invalid experiment spec\n {2}- netlab:datapath = "flannel"/,
  });
});

test('LocalExperiment: one local command that runs netlab up and, on destroy, netlab down', async (t) => {
  const spec = loadStack('local-hostgw');
  const exp = new LocalExperiment('local-hostgw', { spec, projectDir: '/srv/netlab' });
  t.is(await out(exp.summary), '{"runs":[]}');
  const cmds = registered.filter((r) => r.type === 'command:local:Command' && r.name.startsWith('local-hostgw-run') && r.inputs.dir === '/srv/netlab');
  t.is(cmds.length, 1);
  t.like(cmds[0], {
    name: 'local-hostgw-run',
    inputs: {
      create: 'node /srv/netlab/bin/netlab.js up --json /srv/netlab/stacks/Pulumi.local-hostgw.yaml',
      delete: 'node /srv/netlab/bin/netlab.js down local-hostgw',
      dir: '/srv/netlab',
      triggers: [exp.specHash],
    },
  });
  t.truthy(registered.find((r) => r.type === 'netlab:local:Experiment' && r.name === 'local-hostgw'));
  // A changed spec changes the trigger, so pulumi up re-runs the experiment.
  const other = new LocalExperiment('other', { spec: { ...spec, repetitions: 7 }, projectDir: '/srv/netlab' });
  t.not(other.specHash, exp.specHash);
});

test.serial('index.ts builds the program for a shipped stack from its config alone', async (t) => {
  const doc = parse(readFileSync(join(PROJECT_DIR, 'stacks', 'Pulumi.local-hostgw.yaml'), 'utf8')).config as Record<string, unknown>;
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])));
  const program = (await import('../../../index.ts')).default;
  t.is(program.datapath, 'hostgw');
  t.is(program.target, 'local');
  // The stack outputs are the default export's keys: a local stack has no aws keys (no undefined
  // outputs for the engine to warn about), and resultDir comes from netlab up's summary.
  t.true('summary' in program);
  t.false('kernel' in program);
  t.deepEqual(
    Object.entries(program).filter(([, v]) => v === undefined),
    [],
  );
  t.deepEqual(Object.keys(program).sort(), ['datapath', 'proxyMode', 'resultDir', 'specHash', 'summary', 'target']);
  if (!('summary' in program)) return;
  await out(program.summary); // resources register asynchronously
  t.is(await out(program.resultDir), ''); // the mock's summary has no runs
  const cmd = registered.find((r) => r.type === 'command:local:Command' && r.inputs.dir === PROJECT_DIR);
  t.regex(String(cmd?.inputs.create), /bin\/netlab\.js up --json .*\/stacks\/Pulumi\.local-hostgw\.yaml$/);
});

test('localResultDir: the run directory of netlab up --json output, or empty', (t) => {
  t.is(localResultDir('{"runs":[{"stack":"s","status":"ok","dir":"/r/s/1"}],"rows":[]}'), '/r/s/1');
  t.is(localResultDir('{"runs":[]}'), '');
  t.is(localResultDir('not json'), '');
});
