// The Pulumi program: reads the stack's config, validates it into a spec, and instantiates the
// experiment for its target. All logic lives in lib/ and components/.
import * as pulumi from '@pulumi/pulumi';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AwsExperiment } from './components/aws/experiment.ts';
import { LocalExperiment } from './components/local-experiment.ts';
import { isAwsSpec } from './lib/aws/plan.ts';
import { specFromPulumiConfig } from './lib/pulumi-config.ts';

const spec = specFromPulumiConfig(pulumi.getStack(), pulumi.runtime.allConfig());
const projectDir = dirname(fileURLToPath(import.meta.url));

export const datapath = spec.datapath;
export const target = spec.target;
export const proxyMode = spec.proxy?.mode ?? 'none';

const awsExp = isAwsSpec(spec)
  ? new AwsExperiment(spec.name, { spec, projectDir, sshPrivateKey: new pulumi.Config('netlab').getSecret('sshPrivateKey') })
  : undefined;
const localExp = awsExp ? undefined : new LocalExperiment(spec.name, { spec, projectDir });

export const specHash = awsExp?.specHash ?? localExp!.specHash;
/** local: `netlab up --json` output. */
export const summary = localExp?.summary;
// aws: what was built, what it costs, where the results went.
export const kernel = awsExp?.plan.image.kernel;
export const image = awsExp?.plan.image.ssmParameter;
export const instanceType = awsExp?.plan.instanceType;
export const hourlyCostUsd = awsExp?.plan.cost.usdPerHour;
export const serverPublicIp = awsExp?.publicIps.server;
export const clientPublicIp = awsExp?.publicIps.client;
export const serverPrivateIp = awsExp?.plan.hosts.server.privateIp;
export const clientPrivateIp = awsExp?.plan.hosts.client.privateIp;
export const kubeconfig = awsExp?.kubeconfig;
export const resultDir = awsExp?.resultDir;
