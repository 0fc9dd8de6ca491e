/**
 * The command-line interface.  Every subcommand has --help; a wrong flag or
 * argument prints the error and a usage line (exit 2), never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { SIMULATOR_VERSION } from '../actors/sim.ts';
import { registerDemoCommand } from './demo.ts';
import { registerJournalCommands } from './journal.ts';
import { registerReplayCommands } from './replay.ts';
import { registerTtCommand } from './tt.ts';
import { registerRunCommand } from './run.ts';
import { registerScenarioCommands } from './scenario.ts';
import { registerFuzzCommand } from './fuzz.ts';
import { registerExploreCommand } from './explore.ts';
import { CliError, err } from './util.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('iommufd-sim')
    .description('deterministic simulator of Linux iommufd (/dev/iommu) and the IOMMUs behind it')
    .version(SIMULATOR_VERSION)
    .showHelpAfterError(true)
    .exitOverride();
  registerDemoCommand(program);
  registerJournalCommands(program);
  registerRunCommand(program);
  registerReplayCommands(program);
  registerTtCommand(program);
  registerScenarioCommands(program);
  registerFuzzCommand(program);
  registerExploreCommand(program);
  // exitOverride and the help-after-error hint apply to every subcommand.
  for (const c of allCommands(program)) c.exitOverride().showHelpAfterError(true);
  return program;
}

function allCommands(c: Command): Command[] {
  return c.commands.flatMap((s) => [s, ...allCommands(s)]);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed the message (and usage) to stderr.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : e.exitCode === 1 ? 2 : e.exitCode;
    }
    if (e instanceof CliError) {
      err(`iommufd-sim: ${e.message}`);
      return e.exitCode;
    }
    err(`iommufd-sim: internal error: ${(e as Error).message}`);
    err('this is a simulator bug; please report it with the command line and the journal');
    return 70;
  }
}
