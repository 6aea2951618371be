// The Pulumi program: reads the stack's config, validates it into a spec, and instantiates the
// experiment for its target. All logic lives in lib/ and components/.
import * as pulumi from '@pulumi/pulumi';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalExperiment } from './components/local-experiment.ts';
import { specFromPulumiConfig } from './lib/pulumi-config.ts';

const spec = specFromPulumiConfig(pulumi.getStack(), pulumi.runtime.allConfig());
const projectDir = dirname(fileURLToPath(import.meta.url));
const experiment = new LocalExperiment(spec.name, { spec, projectDir });

export const datapath = spec.datapath;
export const target = spec.target;
export const specHash = experiment.specHash;
export const summary = experiment.summary;
