// The Pulumi program: reads the stack's config, validates it into a spec, and instantiates the
// experiment for its target. All logic lives in lib/ and components/.
//
// Its inputs are the stack's config, not arguments: every `netlab:<key>` of stacks/Pulumi.<stack>.yaml,
// validated by lib/spec/schema.ts, which holds each key's default (the README's config table lists
// them), plus the config secret `netlab:sshPrivateKey` (aws only: the private half of
// `aws.sshPublicKey`; required when that key is set, unused otherwise; ssh: the key of both hosts,
// required). Target local builds one LocalExperiment, target aws one AwsExperiment, target ssh one
// SshExperiment, named after the stack; the stack outputs are the keys of the default export below.
import * as pulumi from '@pulumi/pulumi';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AwsExperiment } from './components/aws/experiment.ts';
import { LocalExperiment } from './components/local-experiment.ts';
import { SshExperiment } from './components/remote/ssh-experiment.ts';
import { isAwsSpec } from './lib/aws/plan.ts';
import { isSshSpec } from './lib/remote/plan.ts';
import { sshPreflight } from './lib/remote/preflight.ts';
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

// An ssh stack's hosts are checked before anything is created (both, with the stack's key): a bad
// address, key, user, distribution or kernel is named by its key. Under the real engine only (the
// mocks of the unit tests have no hosts).
if (isSshSpec(spec) && process.env.PULUMI_NODEJS_MONITOR) {
  const key = pulumi.runtime.allConfig()['netlab:sshPrivateKey'];
  await sshPreflight(spec, key).catch((e: Error) => {
    throw new pulumi.RunError(e.message);
  });
}

const awsExp = isAwsSpec(spec)
  ? new AwsExperiment(spec.name, { spec, projectDir, sshPrivateKey: new pulumi.Config('netlab').getSecret('sshPrivateKey') })
  : undefined;
const sshExp = isSshSpec(spec)
  ? new SshExperiment(spec.name, { spec, projectDir, sshPrivateKey: new pulumi.Config('netlab').requireSecret('sshPrivateKey') })
  : undefined;
const localExp = awsExp || sshExp ? undefined : new LocalExperiment(spec.name, { spec, projectDir });

// The stack outputs: the keys of the default export, only those the stack's target has (a named
// export per key would leave the other target's keys undefined, which the engine warns about on
// every run). `resultDir` exists for both: lib/aws/sweep.ts reads it.
const common = {
  /** The pod network (`netlab:datapath`). */
  datapath: spec.datapath,
  /** Where the hosts are: `local` or `aws` (`netlab:target`). */
  target: spec.target,
  /** How the client's host implements Services (`netlab:proxy.mode`); `none` without a proxy block. */
  proxyMode: spec.proxy?.mode ?? 'none',
};
const outputs = sshExp
  ? {
      ...common,
      /** SHA-256 (hex) of the resolved spec; a change measures again. */
      specHash: sshExp.specHash,
      /** The server host as SSH reaches it (user@address:port). */
      server: sshExp.endpoints.server,
      /** The client host as SSH reaches it (user@address:port). */
      client: sshExp.endpoints.client,
      /** What each host's first-connection check found: `netlab-check: ok <distribution> <version> <kernel>`. */
      serverCheck: sshExp.checks.server,
      clientCheck: sshExp.checks.client,
      /** The cluster's admin kubeconfig (a secret; '' with ssh.cluster none). */
      kubeconfig: sshExp.kubeconfig,
      /** The run's result directory here, results/<stack>/<run-id>/ (holds result.json). */
      resultDir: sshExp.resultDir,
    }
  : awsExp
    ? {
        ...common,
        /** SHA-256 (hex) of the resolved spec; a change measures again. */
        specHash: awsExp.specHash,
        // What was built, what it costs, where the results went.
        /** The kernel line of the image (`aws.kernel`). */
        kernel: awsExp.plan.image.kernel,
        /** The public SSM parameter the AMI was read from. */
        image: awsExp.plan.image.ssmParameter,
        /** The EC2 instance type of both hosts (`aws.instanceType`). */
        instanceType: awsExp.plan.instanceType,
        /** Estimated US dollars per hour while the stack exists: both instances, their root volumes and public addresses. */
        hourlyCostUsd: awsExp.plan.cost.usdPerHour,
        /** The server host's public IPv4 address. */
        serverPublicIp: awsExp.publicIps.server,
        /** The client host's public IPv4 address. */
        clientPublicIp: awsExp.publicIps.client,
        /** The server host's private address in the subnet (.10). */
        serverPrivateIp: awsExp.plan.hosts.server.privateIp,
        /** The client host's private address in the subnet (.11). */
        clientPrivateIp: awsExp.plan.hosts.client.privateIp,
        /** The cluster's admin kubeconfig (a secret; its API server is reached through an SSH tunnel). */
        kubeconfig: awsExp.kubeconfig,
        /** The run's result directory here, results/<stack>/<run-id>/ (holds result.json). */
        resultDir: awsExp.resultDir,
      }
    : {
        ...common,
        /** SHA-256 (hex) of the resolved spec; a change runs the experiment again. */
        specHash: localExp!.specHash,
        /** `netlab up --json` output: run status, result directory, summary rows. */
        summary: localExp!.summary,
        /** The run's result directory (holds result.json), from that output. */
        resultDir: localExp!.summary.apply((s) => localResultDir(s)),
      };
export default outputs;
