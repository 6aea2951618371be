// The Pulumi fleet writer's resource graph (lib/k8s/pulumi-fleet.ts) under the SDK's mocks: one
// provider, the fleet's Namespace, then a Service and an EndpointSlice per Service, named and
// shaped exactly as lib/k8s/objects.ts fleetObjects gives them; the kubeconfig a secret. No engine.
import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { fleetObjects } from '../../../lib/k8s/objects.ts';
import { buildFleet } from '../../../lib/proxy/fleet.ts';
import {
  DELETE_IN_BACKGROUND,
  FLEET_PROVIDER,
  type FleetResources,
  fleetResources,
  inlineTokens,
  parseArgs,
  resourceName,
  scrub,
} from '../../../lib/k8s/pulumi-fleet.ts';
import { SpecError } from '../../../lib/spec/errors.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';
import { fleetWriterFor, PULUMI_FLEET_HARD_MAX_SERVICES, PULUMI_FLEET_MAX_SERVICES, pulumiFleetCommand } from '../../../lib/k8s/fleet-writer.ts';

interface Made {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  provider?: string;
}
const made: Made[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      made.push({ type: a.type, name: a.name, inputs: a.inputs, ...(a.provider ? { provider: a.provider } : {}) });
      return { id: `${a.name}-id`, state: a.inputs };
    },
    call: (a) => a.inputs,
  },
  'netlab-fleet',
  'fleet',
);

const out = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply((v) => r(v)));
const fleet = buildFleet({ count: 3, backendsPerService: 2, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });
const objects = fleetObjects(fleet);

test.serial(
  'the graph: a provider, the Namespace, then each Service and its EndpointSlice, fields exactly as fleetObjects plus the background-delete annotation',
  async (t) => {
    made.length = 0;
    const r = fleetResources(objects, 'apiVersion: v1\nkind: Config\n');
    await Promise.all([...r.namespaces, ...r.services, ...r.slices].map((x) => out(x.urn)));
    // Registration is asynchronous: compared in the program's order.
    const order = (m: Made) => (m.type.includes('providers') ? 0 : objects.findIndex((o) => resourceName(o) === m.name && m.type.endsWith(`:${o.kind}`)) + 1);
    made.sort((a, b) => order(a) - order(b));
    t.deepEqual(
      made.map((m) => [m.type, m.name]),
      [
        ['pulumi:providers:kubernetes', FLEET_PROVIDER],
        ['kubernetes:core/v1:Namespace', 'netlab'],
        ['kubernetes:core/v1:Service', 'netlab/svc-1'],
        ['kubernetes:discovery.k8s.io/v1:EndpointSlice', 'netlab/svc-1-netlab'],
        ['kubernetes:core/v1:Service', 'netlab/svc-2'],
        ['kubernetes:discovery.k8s.io/v1:EndpointSlice', 'netlab/svc-2-netlab'],
        ['kubernetes:core/v1:Service', 'netlab/svc-3'],
        ['kubernetes:discovery.k8s.io/v1:EndpointSlice', 'netlab/svc-3-netlab'],
      ],
    );
    // Every object's inputs are its fleetObjects JSON (apiVersion and kind included), nothing dropped;
    // the one addition is the provider's background-delete annotation (the lab has no garbage collector).
    for (const [i, o] of objects.entries()) {
      const { metadata, ...rest } = made[i + 1]!.inputs as { metadata: { annotations?: Record<string, string> } };
      const { annotations, ...meta } = metadata;
      t.deepEqual(annotations, { ...DELETE_IN_BACKGROUND }, resourceName(o));
      t.deepEqual({ ...rest, metadata: meta }, o, resourceName(o));
    }
    t.false('annotations' in (objects[1]!.metadata as object), "fleetObjects' own objects are left as they are");
    t.like(made[2]!.inputs, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'svc-1', namespace: 'netlab', labels: { 'netlab.io/fleet': 'true' } },
      spec: { type: 'ClusterIP', clusterIP: '10.96.0.2', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 80 }] },
    });
    t.false('selector' in (made[2]!.inputs.spec as object), 'selectorless');
    t.deepEqual((made[3]!.inputs.metadata as { labels: Record<string, string> }).labels['kubernetes.io/service-name'], 'svc-1');
    t.deepEqual(made[3]!.inputs.endpoints, [
      { addresses: ['10.128.0.1'], conditions: { ready: true, serving: true, terminating: false } },
      { addresses: ['10.128.0.2'], conditions: { ready: true, serving: true, terminating: false } },
    ]);
    // Each object goes through the lab's provider; the provider applies server-side.
    t.true(made.slice(1).every((m) => m.provider?.includes(`pulumi:providers:kubernetes::${FLEET_PROVIDER}::`)));
    // (Provider inputs reach the engine as strings.)
    t.is(made[0]!.inputs.enableServerSideApply, 'true');
  },
);

test.serial('the provider kubeconfig is a secret; Namespaces are retained on delete, the rest depend on their Namespace', async (t) => {
  made.length = 0;
  const opts = new Map<string, pulumi.ResourceOptions>();
  let r: FleetResources | undefined;
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((a) => {
      opts.set(`${a.type} ${a.name}`, a.opts);
      return undefined;
    });
    r = fleetResources(objects.slice(0, 3), 'users: [{ name: a, user: { token: abc } }]\n');
    await Promise.all([...r.namespaces, ...r.services, ...r.slices].map((x) => out(x.urn)));
  });
  const prov = made.find((m) => m.type === 'pulumi:providers:kubernetes')!;
  // As the engine receives it: the secret marker around the text (the state encrypts such values).
  t.deepEqual(prov.inputs.kubeconfig, {
    [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
    value: 'users: [{ name: a, user: { token: abc } }]\n',
  });
  const ns = opts.get('kubernetes:core/v1:Namespace netlab')!;
  t.is(ns.retainOnDelete, true);
  const svc = opts.get('kubernetes:core/v1:Service netlab/svc-1')!;
  const slice = opts.get('kubernetes:discovery.k8s.io/v1:EndpointSlice netlab/svc-1-netlab')!;
  for (const o of [svc, slice]) {
    t.falsy(o.retainOnDelete);
    t.deepEqual(o.dependsOn, [r!.namespaces[0]]);
  }
});

test('an object of another kind is refused, naming it', (t) => {
  const e = t.throws(() => fleetResources([{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'n' } }], 'x'));
  t.regex(e!.message, /apps\/v1 Deployment \(n\/d\).*Namespace, Service and EndpointSlice/);
});

test('inlineTokens: token files read into the kubeconfig, relative paths made absolute, the tokens returned for scrubbing', (t) => {
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: netlab',
    '    cluster: { server: "https://127.0.0.1:6443", certificate-authority: ca.crt }',
    'users:',
    '  - name: admin',
    '    user: { tokenFile: /run/x/admin.token }',
    'contexts: [{ name: netlab, context: { cluster: netlab, user: admin } }]',
    'current-context: netlab',
  ].join('\n');
  const { kubeconfig, tokens } = inlineTokens(text, '/run/x', (p) => (p === '/run/x/admin.token' ? 's3cr3t\n' : ''));
  t.deepEqual(tokens, ['s3cr3t']);
  t.regex(kubeconfig, /token: s3cr3t/);
  t.notRegex(kubeconfig, /tokenFile/);
  t.regex(kubeconfig, /certificate-authority: \/run\/x\/ca\.crt/);
  t.throws(() => inlineTokens(text, '/run/x', () => '\n'), { message: /token file \/run\/x\/admin\.token is empty/ });
  t.is(scrub('Unauthorized: bearer s3cr3t rejected (s3cr3t)', tokens), 'Unauthorized: bearer [token] rejected ([token])');
});

test('parseArgs: the command line the kube-proxy program step gives, and what is refused', (t) => {
  t.deepEqual(parseArgs(['--objects', 'l.json', '--kubeconfig', 'k', '--state', 's', '--refresh-if', 'm']), {
    objects: 'l.json',
    kubeconfig: 'k',
    state: 's',
    refreshIf: 'm',
  });
  t.throws(() => parseArgs(['--objects', 'l.json']), { message: /--kubeconfig is required/ });
  t.throws(() => parseArgs(['--nope', 'x']), { message: /usage: .*got --nope/ });
});

test('auto writes through Pulumi up to the threshold, server-side apply above; an explicit writer is kept', (t) => {
  t.is(fleetWriterFor('auto', 1), 'pulumi');
  t.is(fleetWriterFor('auto', PULUMI_FLEET_MAX_SERVICES), 'pulumi');
  t.is(fleetWriterFor('auto', PULUMI_FLEET_MAX_SERVICES + 1), 'server-side-apply');
  t.is(fleetWriterFor('pulumi', 1000), 'pulumi');
  t.is(fleetWriterFor('server-side-apply', 1), 'server-side-apply');
  t.true(PULUMI_FLEET_HARD_MAX_SERVICES > PULUMI_FLEET_MAX_SERVICES);
  const argv = pulumiFleetCommand('/p');
  t.deepEqual(argv.slice(1), ['--import', 'file:///p/node_modules/tsx/dist/loader.mjs', '/p/lib/k8s/pulumi-fleet.ts']);
});

const refused = (proxy: Record<string, unknown>) => {
  try {
    specFromStackDoc('x', { config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': proxy } });
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  return [];
};

test('proxy.writer: auto by default; a bad value refused with the key, the value and what is allowed; no writer for the model', (t) => {
  const s = specFromStackDoc('x', { config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': { mode: 'iptables', implementation: 'kube-proxy' } } });
  t.is(s.proxy!.writer, 'auto');
  t.deepEqual(refused({ mode: 'iptables', implementation: 'kube-proxy', writer: 'helm' }), [
    'netlab:proxy.writer = "helm": expected one of: auto, pulumi, server-side-apply',
  ]);
  t.deepEqual(refused({ mode: 'iptables', implementation: 'kube-proxy', writer: 'pulumi', services: [1, PULUMI_FLEET_HARD_MAX_SERVICES] }), []);
  const [big] = refused({ mode: 'iptables', implementation: 'kube-proxy', writer: 'pulumi', services: [1, PULUMI_FLEET_HARD_MAX_SERVICES + 1] });
  t.regex(
    big!,
    new RegExp(
      `^netlab:proxy.writer = "pulumi": a Pulumi write of ${PULUMI_FLEET_HARD_MAX_SERVICES + 1} Services .* up to ${PULUMI_FLEET_HARD_MAX_SERVICES}: use auto or server-side-apply$`,
    ),
  );
  const [model] = refused({ mode: 'iptables', writer: 'server-side-apply' });
  t.regex(model!, /^netlab:proxy.writer = "server-side-apply": .*implementation kube-proxy/);
});
