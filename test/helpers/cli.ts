// Run the `netlab` command line as a child process. When the tests run as root it runs as nobody:
// the verbs tested this way may build nothing, and as nobody none could.
import { spawn } from 'node:child_process';
import { BIN, PROJECT } from './paths.ts';

export const nobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

export function netlab(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'], ...nobody });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
