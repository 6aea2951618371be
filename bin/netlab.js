#!/usr/bin/env node
// The `netlab` command. Registers tsx so the TypeScript sources run as they are.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../lib/cli/index.ts');
await main(process.argv);
