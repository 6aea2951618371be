// The local target under `pulumi up`: one experiment run on this machine's network namespaces.
// Creating it runs `netlab up` (build, measure, tear down, write results); deleting it runs
// `netlab down`, which removes anything a crashed run left. The run is repeated when the spec
// changes (the trigger is a hash of the resolved spec).
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Spec } from '../lib/spec/schema.ts';

export interface LocalExperimentArgs {
  spec: Spec;
  /** The netlab project directory (holds bin/ and stacks/). */
  projectDir: string;
  /** Stack file to run; defaults to stacks/Pulumi.<stack>.yaml. */
  stackFile?: string;
}

export class LocalExperiment extends pulumi.ComponentResource {
  readonly specHash: string;
  /** `netlab up --json` output: run status, result directory, summary rows. */
  readonly summary: pulumi.Output<string>;

  constructor(name: string, args: LocalExperimentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:local:Experiment', name, {}, opts);
    const { spec, projectDir } = args;
    if (spec.target !== 'local') throw new Error(`LocalExperiment needs target local, got ${spec.target}`);
    const stackFile = args.stackFile ?? join(projectDir, 'stacks', `Pulumi.${spec.name}.yaml`);
    this.specHash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
    const bin = join(projectDir, 'bin', 'netlab.js');
    const run = new command.local.Command(
      `${name}-run`,
      {
        create: `node ${bin} up --json ${stackFile}`,
        delete: `node ${bin} down ${spec.name}`,
        dir: projectDir,
        triggers: [this.specHash],
        logging: 'stderr',
      },
      { parent: this, customTimeouts: { create: '2h', delete: '5m' } },
    );
    this.summary = run.stdout;
    this.registerOutputs({ specHash: this.specHash, summary: this.summary });
  }
}
