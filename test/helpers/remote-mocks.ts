// Pulumi's mocks for the remote flow's graph (setMocks): every resource is recorded, and the steps
// whose output the flow reads answer as a host would (facts of a 2-CPU host, the run's tarball,
// and whatever else the test gives by step-name suffix).
import * as pulumi from '@pulumi/pulumi';

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** What the facts step of a small host prints (lib/aws/scripts.ts factsScript). */
export const FACTS_STDOUT = `== kernel\n6.1.0\n== nic eth0\nrx 2\ntx 2\nirqs \n== lscpu\n# CPU,Core,Socket,Node\n0,0,0,0\n1,1,0,0\n`;

/** setMocks for stack `stack`; returns the list the resources are recorded into. `stdout`: step-name suffix → what it prints. */
export async function mockRemoteFlow(stack: string, stdout: Record<string, string> = {}): Promise<Registered[]> {
  const registered: Registered[] = [];
  const answers: Record<string, string> = { '-facts': FACTS_STDOUT, '-run': 'netlab-run: /var/lib/netlab/runs/20261207T000000Z.tgz\n', ...stdout };
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        registered.push({ type: a.type, name: a.name, inputs: a.inputs });
        const suffix = Object.keys(answers).find((s) => a.name.endsWith(s));
        return { id: `${a.name}-id`, state: { ...a.inputs, stdout: suffix ? answers[suffix] : '' } };
      },
      call: (a) => a.inputs,
    },
    'netlab',
    stack,
    false,
  );
  return registered;
}
