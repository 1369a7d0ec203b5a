import { Command, CommanderError } from 'commander';
import { isWardenError } from '../errors/index.js';
import { exitCodeOf } from './context.js';
import { registerUpCommand } from './commands/up.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerPrincipalsCommands } from './commands/principals.js';
import { registerPepTokenCommands } from './commands/pepToken.js';
import { registerAdminTokenCommands } from './commands/adminToken.js';
import { registerStatusCommand } from './commands/status.js';
import { registerIdentityCommands } from './commands/identity.js';
import { registerPolicyCommands } from './commands/policy.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerArtifactCommands } from './commands/artifact.js';
import { registerScanCommand } from './commands/scan.js';
import { registerDetectCommands } from './commands/detect.js';
import { registerIncidentCommands } from './commands/incident.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerServerCommand } from './commands/server.js';
import { registerAgentCommand } from './commands/agent.js';
import { registerDemoCommands } from './commands/demo.js';

export function buildProgram(): Command {
  const program = new Command('warden')
    .description('Zero-trust security for AI workloads: identity, policy, gateway, integrity, audit.')
    .option('--data-dir <dir>', 'state directory (keys, embedded database, logs)', undefined)
    .option('--config <file>', 'warden.yaml to load (default ./warden.yaml when present)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => undefined });

  registerUpCommand(program);
  registerServerCommand(program);
  registerGatewayCommand(program);
  registerAgentCommand(program);
  registerStatusCommand(program);
  registerKeysCommands(program);
  registerPrincipalsCommands(program);
  registerPepTokenCommands(program);
  registerAdminTokenCommands(program);
  registerIdentityCommands(program);
  registerPolicyCommands(program);
  registerAuditCommands(program);
  registerArtifactCommands(program);
  registerScanCommand(program);
  registerDetectCommands(program);
  registerIncidentCommands(program);
  registerDemoCommands(program);
  return program;
}

/**
 * Runs the CLI and returns the exit code (DESIGN.md): 0 ok, 1 policy failure or findings,
 * 2 usage or input error with one `WARDEN_…` line on stderr.
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let code = 0;
  program.hook('postAction', (_this, action) => {
    const c = exitCodeOf(action);
    if (c !== undefined) code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      // One line, as for every error: Commander puts its suggestion on a second one ("(Did you mean test?)").
      const message = err.message.replace(/^error: /, '').split('\n').map((s) => s.trim()).filter(Boolean).join(' ');
      process.stderr.write(`WARDEN_USAGE: ${message}\n`);
      return 2;
    }
    if (isWardenError(err)) {
      process.stderr.write(`${err.code}: ${err.message.split('\n')[0]}\n`);
      return 2;
    }
    process.stderr.write(`WARDEN_INTERNAL: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}\n`);
    return 2;
  }
}
