#!/usr/bin/env node
// Entry point: runs the TypeScript CLI through tsx's loader, so the project
// needs no build step (`npm ci` is all a new user runs).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
