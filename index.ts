// The Pulumi program: reads the stack's config, validates it into a spec, and instantiates the
// experiment for its target. All logic lives in lib/ and components/.
import * as pulumi from '@pulumi/pulumi';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AwsExperiment } from './components/aws/experiment.ts';
import { LocalExperiment } from './components/local-experiment.ts';
import { isAwsSpec } from './lib/aws/plan.ts';
import { localResultDir, missingProviderPlugins, specFromPulumiConfig } from './lib/spec/pulumi-config.ts';

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

const awsExp = isAwsSpec(spec)
  ? new AwsExperiment(spec.name, { spec, projectDir, sshPrivateKey: new pulumi.Config('netlab').getSecret('sshPrivateKey') })
  : undefined;
const localExp = awsExp ? undefined : new LocalExperiment(spec.name, { spec, projectDir });

// The stack outputs: the keys of the default export, only those the stack's target has (a named
// export per key would leave the other target's keys undefined, which the engine warns about on
// every run). `resultDir` exists for both: lib/aws/sweep.ts reads it.
const common = { datapath: spec.datapath, target: spec.target, proxyMode: spec.proxy?.mode ?? 'none' };
const outputs = awsExp
  ? {
      ...common,
      specHash: awsExp.specHash,
      // What was built, what it costs, where the results went.
      kernel: awsExp.plan.image.kernel,
      image: awsExp.plan.image.ssmParameter,
      instanceType: awsExp.plan.instanceType,
      hourlyCostUsd: awsExp.plan.cost.usdPerHour,
      serverPublicIp: awsExp.publicIps.server,
      clientPublicIp: awsExp.publicIps.client,
      serverPrivateIp: awsExp.plan.hosts.server.privateIp,
      clientPrivateIp: awsExp.plan.hosts.client.privateIp,
      kubeconfig: awsExp.kubeconfig,
      resultDir: awsExp.resultDir,
    }
  : {
      ...common,
      specHash: localExp!.specHash,
      /** `netlab up --json` output: run status, result directory, summary rows. */
      summary: localExp!.summary,
      /** The run's result directory (holds result.json), from that output. */
      resultDir: localExp!.summary.apply((s) => localResultDir(s)),
    };
export default outputs;
