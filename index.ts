// The Pulumi program: reads the stack's config, validates it into a spec, and instantiates the
// experiment for its target. All logic lives in lib/ and components/.
import * as pulumi from '@pulumi/pulumi';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AwsExperiment } from './components/aws/experiment.ts';
import { LocalExperiment } from './components/local-experiment.ts';
import { isAwsSpec } from './lib/aws/plan.ts';
import { missingProviderPlugins, specFromPulumiConfig } from './lib/pulumi-config.ts';

const spec = specFromPulumiConfig(pulumi.getStack(), pulumi.runtime.allConfig());
const projectDir = dirname(fileURLToPath(import.meta.url));

// Under the real engine (not setMocks), an aws stack without its provider plugins stops here
// with what to do, before the engine's own "no resource plugin" error on the first aws resource.
if (isAwsSpec(spec) && process.env.PULUMI_NODEJS_MONITOR) {
  const missing = missingProviderPlugins(projectDir, ['@pulumi/aws', '@pulumi/tls']);
  if (missing.length)
    throw new pulumi.RunError(
      `aws stack ${spec.name} needs the Pulumi provider plugins ${missing.join(' and ')}, which are not installed ` +
        `(scripts/install-tools.sh installs only what local stacks need). Install them where plugins can be downloaded: ` +
        missing.map((m) => `pulumi plugin install resource ${m}`).join('; '),
    );
}

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
