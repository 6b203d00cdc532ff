#!/usr/bin/env node
// nitrolab command entry: registers the TypeScript loader (tsx) and runs the CLI from source.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
