// Runs the real CLI entry (src/cli/main.ts) in a child process, as `warden` would.
import { main } from '../../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
