// Who writes the Service fleet into the lab's API server (issue 16, `proxy.writer`): a Pulumi
// program of @pulumi/kubernetes resources (lib/k8s/pulumi-fleet.ts, one `pulumi up` per Service
// count) up to PULUMI_FLEET_MAX_SERVICES, and above it one `kubectl apply --server-side` of a List
// plus a prune. Light on purpose: the plan imports this, not the Pulumi SDKs.
// README.md, "Which writer, and why", has the measurements behind the numbers here.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_DIR } from '../core/project.ts';

/** `proxy.writer` values: auto = Pulumi up to PULUMI_FLEET_MAX_SERVICES Services, server-side apply above. */
export const FLEET_WRITERS = ['auto', 'pulumi', 'server-side-apply'] as const;
export type FleetWriterChoice = (typeof FLEET_WRITERS)[number];
/** What wrote one programming (result.json `proxy.programs[].writer`). */
export type FleetWriter = Exclude<FleetWriterChoice, 'auto'>;

/**
 * The largest fleet `auto` writes through Pulumi. Measured here against the lab's API server
 * (README, "Which writer, and why"): a `pulumi up` costs about 3.5 s however small, then about
 * 45 ms per resource created (a Service and its EndpointSlice: some 90 ms per Service) and 75 ms
 * per resource deleted, where one server-side apply of the List costs about 10 ms per Service. Up
 * to 100 Services that stays linear (12 s to create 100, 17 s to delete 99); beyond it, it is not
 * (200: 28–51 s, 400: 225 s to create and 244 s to delete).
 */
export const PULUMI_FLEET_MAX_SERVICES = 100;
/** The largest fleet `writer: pulumi` accepts: 200 Services took up to 51 s here, 400 took four minutes. */
export const PULUMI_FLEET_HARD_MAX_SERVICES = 200;

/** The writer of a programming of `services` Services. */
export function fleetWriterFor(choice: FleetWriterChoice, services: number): FleetWriter {
  if (choice !== 'auto') return choice;
  return services <= PULUMI_FLEET_MAX_SERVICES ? 'pulumi' : 'server-side-apply';
}

/**
 * The Pulumi writer as a command (argv prefix): Node with tsx running lib/k8s/pulumi-fleet.ts. It
 * runs inside the control plane's namespace, where the API server is (its engine, language runtime
 * and provider talk over that namespace's loopback).
 */
export function pulumiFleetCommand(projectDir = PROJECT_DIR): string[] {
  return [
    process.execPath,
    '--import',
    pathToFileURL(join(projectDir, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
    join(projectDir, 'lib', 'k8s', 'pulumi-fleet.ts'),
  ];
}

/**
 * The file backend's passphrase. It encrypts the secrets of a stack that lives for one run inside
 * the run folder (the API token in the provider's kubeconfig), so that they are never in plain text
 * there; it protects nothing beyond that run, and is not meant to.
 */
export const PULUMI_FLEET_PASSPHRASE = 'netlab-fleet-throwaway';
