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

let outputs: Record<string, unknown>;
if (isAwsSpec(spec)) {
  const config = new pulumi.Config('netlab');
  const e = new AwsExperiment(spec.name, { spec, projectDir, sshPrivateKey: config.getSecret('sshPrivateKey') });
  outputs = {
    specHash: e.specHash,
    kernel: e.plan.image.kernel,
    image: e.plan.image.ssmParameter,
    instanceType: e.plan.instanceType,
    hourlyCostUsd: e.plan.cost.usdPerHour,
    serverPublicIp: e.publicIps.server,
    clientPublicIp: e.publicIps.client,
    serverPrivateIp: e.plan.hosts.server.privateIp,
    clientPrivateIp: e.plan.hosts.client.privateIp,
    kubeconfig: e.kubeconfig,
    resultDir: e.resultDir,
  };
} else {
  const e = new LocalExperiment(spec.name, { spec, projectDir });
  outputs = { specHash: e.specHash, summary: e.summary };
}

export const specHash = outputs.specHash;
export const summary = outputs.summary;
export const kernel = outputs.kernel;
export const image = outputs.image;
export const instanceType = outputs.instanceType;
export const hourlyCostUsd = outputs.hourlyCostUsd;
export const serverPublicIp = outputs.serverPublicIp;
export const clientPublicIp = outputs.clientPublicIp;
export const serverPrivateIp = outputs.serverPrivateIp;
export const clientPrivateIp = outputs.clientPrivateIp;
export const kubeconfig = outputs.kubeconfig;
export const resultDir = outputs.resultDir;
