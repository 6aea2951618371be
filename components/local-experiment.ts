// The local target under `pulumi up`: one experiment run on this machine's network namespaces.
// Creating it runs `netlab up` (build, measure, tear down, write results); deleting it runs
// `netlab down`, which removes anything a crashed run left. The run is repeated when the spec
// changes (the trigger is a hash of the resolved spec).
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Spec } from '../lib/spec/schema.ts';

/** LocalExperimentArgs: one validated local stack, and where this project lives. */
export interface LocalExperimentArgs {
  /**
   * The validated spec of a local stack (target local; any other target throws). Only its name and
   * its hash are used here: `netlab up` reads the stack file itself, and a change of the spec
   * (the hash) runs the experiment again. Required.
   */
  spec: Spec;
  /** The netlab project directory (holds bin/ and stacks/); the commands run in it. Required. */
  projectDir: string;
  /**
   * The stack file `netlab up` runs (a path, absolute or relative to projectDir).
   * @default `<projectDir>/stacks/Pulumi.<spec.name>.yaml`
   */
  stackFile?: string;
}

/**
 * LocalExperiment is a component that runs one experiment on this machine's network namespaces:
 * one local command whose create runs `netlab up --json <stackFile>` (build, measure, tear down,
 * write results; up to 2 hours) and whose delete runs `netlab down <stack>` (up to 5 minutes).
 *
 * Its outputs are the spec's hash and the run's summary. `pulumi destroy` removes whatever a
 * crashed run left (it stops a run still holding the stack's lock, deletes its namespaces and
 * cgroups, marks a result left `running` as failed); the result directories stay.
 */
export class LocalExperiment extends pulumi.ComponentResource {
  /** SHA-256 (hex) of the resolved spec's JSON: the command's trigger. */
  readonly specHash: string;
  /** `netlab up --json` output: run status, result directory, summary rows. */
  readonly summary: pulumi.Output<string>;

  /**
   * @param name The unique name of the component (index.ts passes the stack's name); its command is `<name>-run`.
   * @param args The spec, the project directory and the stack file.
   * @param opts Options of the component.
   */
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
