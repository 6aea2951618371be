// The Service fleet declared with @pulumi/kubernetes (issue 16, `proxy.writer`): the objects of
// lib/k8s/objects.ts fleetObjects (the same List the server-side-apply writer sends) as one
// Namespace, Service and EndpointSlice resource each, in an Automation API inline program. Each
// Service count is one `pulumi up` of the same stack, so Pulumi's own diff creates what is new and
// deletes what left the fleet.
//
// The stack lives for one run: a file backend in the run folder (<run dir>/pulumi-fleet, removed
// with it), a throw-away passphrase, the project's PULUMI_HOME (the CLI and the kubernetes plugin
// of scripts/install-tools.sh). The provider's kubeconfig carries the API token and is a secret,
// so the state holds it encrypted; nothing here prints it.
//
// Run as a command (lib/proxy/kube-proxy/index.ts does, inside the control plane's namespace):
//   node --import tsx lib/k8s/pulumi-fleet.ts --objects <List.json> --kubeconfig <file> --state <dir> [--refresh-if <file>]
// It prints one JSON line: what the engine changed and how long the `pulumi up` took.
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { PROJECT_DIR, toolsCache } from '../core/project.ts';
import { pulumiEnv } from '../pulumi/tools.ts';
import { PULUMI_FLEET_PASSPHRASE } from './fleet-writer.ts';

type Obj = Record<string, unknown>;
interface Meta {
  name: string;
  namespace?: string;
}

export const FLEET_PROJECT = 'netlab-fleet';
export const FLEET_STACK = 'fleet';
/** The provider resource's name: the lab's API server. */
export const FLEET_PROVIDER = 'lab-api';

/** A fleet resource's Pulumi name: `<namespace>/<name>` (the Namespace: its name). */
export const resourceName = (o: Obj) => {
  const m = o.metadata as Meta;
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
};

/**
 * The kubeconfig the provider gets: `text` with each user's `tokenFile` read into `token`. The
 * lab's kubeconfigs point at token files (lib/k8s/controlplane.ts) so that plans hold no secret;
 * the provider keeps its kubeconfig in the state, so the token itself goes there, as a secret.
 * Relative paths (tokenFile, certificate-authority) are taken from the kubeconfig's folder.
 */
export function inlineTokens(text: string, dir: string, read = (p: string) => readFileSync(p, 'utf8')): { kubeconfig: string; tokens: string[] } {
  const cfg = parse(text) as { clusters?: { cluster: Record<string, string> }[]; users?: { user: Record<string, string> }[] };
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const tokens: string[] = [];
  for (const c of cfg.clusters ?? []) if (c.cluster['certificate-authority']) c.cluster['certificate-authority'] = abs(c.cluster['certificate-authority']);
  for (const u of cfg.users ?? []) {
    const file = u.user.tokenFile;
    if (!file) continue;
    const token = read(abs(file)).trim();
    if (!token) throw new Error(`the kubeconfig's token file ${abs(file)} is empty`);
    delete u.user.tokenFile;
    u.user.token = token;
    tokens.push(token);
  }
  return { kubeconfig: stringify(cfg), tokens };
}

/**
 * The one thing the Pulumi writer adds to an object: the provider deletes in the background. Its
 * default, a foreground delete, puts a `foregroundDeletion` finalizer on the object and waits for
 * the garbage collector of kube-controller-manager to remove it; the lab runs no
 * kube-controller-manager, so every delete would hang until the provider's 10-minute timeout (seen
 * here on the first shrink). The annotation is read by the provider only: kube-proxy never sees it.
 */
export const DELETE_IN_BACKGROUND = { 'pulumi.com/deletionPropagationPolicy': 'background' } as const;

/** `o` with DELETE_IN_BACKGROUND among its annotations (a copy; fleetObjects' object is left as it is). */
export function deletedInBackground(o: Obj): Obj {
  const m = o.metadata as Meta & { annotations?: Record<string, string> };
  return { ...o, metadata: { ...m, annotations: { ...(m.annotations ?? {}), ...DELETE_IN_BACKGROUND } } };
}

export interface FleetResources {
  provider: k8s.Provider;
  namespaces: k8s.core.v1.Namespace[];
  services: k8s.core.v1.Service[];
  slices: k8s.discovery.v1.EndpointSlice[];
}

/**
 * The fleet as resources of the current Pulumi program: a provider for the lab's API server
 * (server-side apply, the kubeconfig a secret), then each object of `objects` (fleetObjects: its
 * Namespaces, then each Service and its EndpointSlice) with exactly its fields, plus the
 * provider's background-delete annotation (DELETE_IN_BACKGROUND). Namespaces are kept when they
 * leave the program: the lab runs no namespace controller to finish deleting one, and the control
 * plane goes away with the run anyway.
 */
export function fleetResources(objects: Obj[], kubeconfig: pulumi.Input<string>): FleetResources {
  const provider = new k8s.Provider(FLEET_PROVIDER, {
    kubeconfig: pulumi.secret(kubeconfig),
    enableServerSideApply: true,
  });
  const out: FleetResources = { provider, namespaces: [], services: [], slices: [] };
  const byNs = new Map<string, k8s.core.v1.Namespace>();
  for (const plain of objects) {
    const o = deletedInBackground(plain);
    const name = resourceName(o);
    const ns = (o.metadata as Meta).namespace;
    const after = ns && byNs.has(ns) ? { dependsOn: [byNs.get(ns)!] } : {};
    if (o.apiVersion === 'v1' && o.kind === 'Namespace') {
      const r = new k8s.core.v1.Namespace(name, o as k8s.core.v1.NamespaceArgs, { provider, retainOnDelete: true });
      byNs.set((o.metadata as Meta).name, r);
      out.namespaces.push(r);
    } else if (o.apiVersion === 'v1' && o.kind === 'Service') {
      out.services.push(new k8s.core.v1.Service(name, o as k8s.core.v1.ServiceArgs, { provider, ...after }));
    } else if (o.apiVersion === 'discovery.k8s.io/v1' && o.kind === 'EndpointSlice') {
      out.slices.push(new k8s.discovery.v1.EndpointSlice(name, o as unknown as k8s.discovery.v1.EndpointSliceArgs, { provider, ...after }));
    } else
      throw new Error(`the fleet holds a ${String(o.apiVersion)} ${String(o.kind)} (${name}); the Pulumi writer knows Namespace, Service and EndpointSlice`);
  }
  return out;
}

export interface FleetWriteOptions {
  /** The fleet's objects (fleetObjects). */
  objects: Obj[];
  /** A kubeconfig file that reaches the API server from where this runs (token files allowed). */
  kubeconfig: string;
  /** The stack's folder: backend/ (state) and work/ (the workspace); removed with the run. */
  stateDir: string;
  /** Refresh the state from the API first (another writer changed the fleet since the last up). */
  refresh?: boolean;
  /** `pulumi up --parallel` (default: the CLI's). */
  parallel?: number;
  projectDir?: string;
}

export interface FleetWriteSummary {
  writer: 'pulumi';
  /** The `pulumi up` alone: the CLI's run, from its start to its exit (the summary's own times are whole seconds). */
  upSeconds: number;
  /** Everything: the workspace, the stack, the up. */
  seconds: number;
  refreshed: boolean;
  /** The engine's resource changes (create, delete, same, update, …), the provider included. */
  changes: Record<string, number>;
}

/**
 * One `pulumi up` of the fleet stack in `stateDir` (created on the first call). Runs the CLI of
 * the tools cache with the project's PULUMI_HOME and nothing of the caller's Pulumi settings: a
 * file backend of its own and the throw-away passphrase (the caller's PULUMI_* variables are
 * ignored, so a run under an outer `pulumi up` does not write into that one's backend).
 */
export async function writeFleet(o: FleetWriteOptions): Promise<FleetWriteSummary> {
  const t0 = Date.now();
  const projectDir = o.projectDir ?? PROJECT_DIR;
  const { LocalWorkspace, PulumiCommand } = await import('@pulumi/pulumi/automation/index.js');
  const backend = join(o.stateDir, 'backend');
  const workDir = join(o.stateDir, 'work');
  mkdirSync(backend, { recursive: true, mode: 0o700 });
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const { kubeconfig, tokens } = inlineTokens(readFileSync(o.kubeconfig, 'utf8'), dirname(o.kubeconfig));
  const env: Record<string, string> = {
    ...pulumiEnv({ projectDir, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } }),
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: PULUMI_FLEET_PASSPHRASE,
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
  };
  const pulumiCommand = await PulumiCommand.get({ root: toolsCache(), skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: FLEET_STACK, projectName: FLEET_PROJECT, program: async () => void fleetResources(o.objects, kubeconfig) },
    {
      workDir,
      pulumiCommand,
      envVars: env,
      secretsProvider: 'passphrase',
      projectSettings: { name: FLEET_PROJECT, runtime: 'nodejs', backend: { url: `file://${backend}` } },
    },
  );
  try {
    const t1 = Date.now();
    const up = await stack.up({ refresh: !!o.refresh, ...(o.parallel ? { parallel: o.parallel } : {}), color: 'never', suppressProgress: true });
    const upSeconds = (Date.now() - t1) / 1000;
    const s = up.summary;
    return {
      writer: 'pulumi',
      upSeconds,
      seconds: (Date.now() - t0) / 1000,
      refreshed: !!o.refresh,
      changes: { ...(s.resourceChanges ?? {}) } as Record<string, number>,
    };
  } catch (e) {
    throw new Error(scrub(`pulumi up of the fleet (${o.objects.length} objects) failed: ${(e as Error).message}`, tokens));
  }
}

/** `text` with every token replaced (an error from the engine or the provider must not carry one). */
export const scrub = (text: string, tokens: string[]) => tokens.reduce((s, t) => (t ? s.split(t).join('[token]') : s), text);

/** The command line: --objects <List.json> --kubeconfig <file> --state <dir> [--refresh-if <file>] [--parallel N]. */
export function parseArgs(argv: string[]): { objects: string; kubeconfig: string; state: string; refreshIf?: string; parallel?: number } {
  const a: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    if (!['--objects', '--kubeconfig', '--state', '--refresh-if', '--parallel'].includes(k) || argv[i + 1] === undefined)
      throw new Error(`usage: pulumi-fleet.ts --objects <List.json> --kubeconfig <file> --state <dir> [--refresh-if <file>] [--parallel N] (got ${k})`);
    a[k.slice(2)] = argv[i + 1]!;
  }
  for (const k of ['objects', 'kubeconfig', 'state']) if (!a[k]) throw new Error(`pulumi-fleet.ts: --${k} is required`);
  return {
    objects: a.objects!,
    kubeconfig: a.kubeconfig!,
    state: a.state!,
    ...(a['refresh-if'] ? { refreshIf: a['refresh-if'] } : {}),
    ...(a.parallel ? { parallel: Number(a.parallel) } : {}),
  };
}

/**
 * The command: writes the List's items, refreshing first when the --refresh-if file exists (the
 * other writer left it: the state may name objects it deleted), and removes that file once the
 * state matches the API again.
 */
export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  // Nothing of an outer Pulumi run (backend, passphrase file, access token) reaches this stack.
  for (const k of Object.keys(process.env)) if (k.startsWith('PULUMI_')) delete process.env[k];
  const list = JSON.parse(readFileSync(args.objects, 'utf8')) as { items?: Obj[] };
  if (!Array.isArray(list.items)) throw new Error(`${args.objects}: not a v1 List (no items)`);
  const refresh = !!args.refreshIf && existsSync(args.refreshIf);
  const summary = await writeFleet({
    objects: list.items,
    kubeconfig: args.kubeconfig,
    stateDir: args.state,
    refresh,
    ...(args.parallel ? { parallel: args.parallel } : {}),
  });
  if (refresh) rmSync(args.refreshIf!, { force: true });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`netlab fleet writer: ${e.message}\n`);
    process.exit(1);
  });
}
