import { Command, CommanderError } from 'commander';
import { formatIssue, InterruptedError, isKkoError, KkoError, ValidationError } from '../errors.js';
import { fromRawFsError } from '../util/fs-errors.js';
import { safeLines, safeText } from '../util/safe-text.js';
import { redactText } from '../util/sources.js';
import { EXIT_FAILURE, EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, exitCodeFor, processIo, type CliIo } from './io.js';
import { registerManifestCommands } from './commands/manifest.js';
import { registerMirrorCommands } from './commands/mirror.js';
import { registerArtifactCommands } from './commands/artifact.js';
import { registerKeyCommands } from './commands/key.js';
import { registerPrecheck } from './commands/precheck.js';
import { registerVersion } from './commands/version.js';
import { registerCompletion } from './commands/completion.js';
import { registerSync } from './commands/sync.js';
import { VERSION } from '../version.js';
import type { CommandContext } from './context.js';
import { LOG_LEVELS, say, type LogLevel } from './output.js';
import { mapStack } from './stack.js';

// A command's action returns its exit code; thrown errors are mapped below (the only place that does).
export type CommandResult = number | void;

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('kko')
    .description('KubeKey offline kit: lean KubeKey manifests, zone-aware mirrors, verified offline artifacts')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ kko manifest create --with-kubernetes v1.28.12 -o manifest.yaml
  $ kko manifest validate -f manifest.yaml --online
  $ kko artifact export -m manifest.yaml -o kubekey-artifact.tar.gz
  $ kko artifact verify kubekey-artifact.tar.gz

Environment: KKZONE=cn (kk's China mirrors), KKO_MIRROR_CONFIG, KKO_CACHE_DIR, KKO_CATALOG_DIR.
Exit codes: 0 ok, 1 operational failure, 2 invalid input, 70 internal error (please report), 130/143 interrupted (SIGINT/SIGTERM).`,
    )
    .option('-q, --quiet', 'no progress bars or summaries on stderr: warnings and errors only (= --log-level warn)')
    .option('--verbose', 'say more on stderr: retries, redirects, cache decisions (= --log-level debug)')
    .option('--log-level <level>', `what reaches stderr: ${LOG_LEVELS.join(' | ')} (default: info)`)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  const ctx: CommandContext = { io, setExit, level: 'info' };
  program.hook('preAction', () => {
    ctx.level = logLevelOf(program.opts<{ quiet?: boolean; verbose?: boolean; logLevel?: string }>());
  });
  registerManifestCommands(program, ctx);
  registerMirrorCommands(program, ctx);
  registerArtifactCommands(program, ctx);
  registerKeyCommands(program, ctx);
  registerPrecheck(program, ctx);
  registerSync(program, ctx);
  registerVersion(program, ctx);
  registerCompletion(program, ctx);
  return program;
}

function logLevelOf(o: { quiet?: boolean; verbose?: boolean; logLevel?: string }): LogLevel {
  if (o.logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(o.logLevel))
      throw new KkoError('INVALID_INPUT', `--log-level ${o.logLevel}: not a level`, {
        hint: `one of ${LOG_LEVELS.join(', ')}`,
      });
    return o.logLevel as LogLevel;
  }
  if (o.quiet && o.verbose) throw new KkoError('INVALID_INPUT', '--quiet and --verbose: pick one');
  return o.quiet ? 'warn' : o.verbose ? 'debug' : 'info';
}

// Run the CLI in-process; returns the exit code and never calls process.exit.
export async function main(argv: readonly string[], rawIo: CliIo = processIo()): Promise<number> {
  const io = escapingIo(rawIo);
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err, io);
  }
}

// Everything printed is escaped: no control character from data reaches the terminal (see util/safe-text.ts).
function escapingIo(io: CliIo): CliIo {
  return {
    ...io,
    stdout: (t) => io.stdout(safeLines(t)),
    stderr: (t) => io.stderr(safeLines(t)),
    frame: io.frame ?? io.stderr,
  };
}

// The InterruptedError behind an error (a layer may have wrapped the abort as its cause).
function interruption(err: unknown): InterruptedError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++)
    if (e instanceof InterruptedError) return e;
  return undefined;
}

function reportError(err: unknown, io: CliIo): number {
  const interrupted = interruption(err);
  if (interrupted) {
    io.stderr('interrupted; re-run to resume\n');
    return exitCodeFor(interrupted.signal);
  }
  if (err instanceof CommanderError) {
    // Help and version are "errors" to commander; usage problems are invalid input.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return EXIT_OK;
    return err.exitCode === 0 ? EXIT_OK : EXIT_INVALID;
  }
  if (err instanceof ValidationError) {
    for (const issue of err.issues) {
      io.stderr(`${safeText(formatIssue(issue))}\n`);
      if (issue.hint) say(io, 'hint', issue.hint, '  ');
    }
    say(io, 'error', err.message);
    return EXIT_INVALID;
  }
  if (isKkoError(err) && err.code !== 'INTERNAL') {
    say(io, 'error', redactText(err.message));
    if (err.hint) say(io, 'hint', err.hint);
    return err.isInputError ? EXIT_INVALID : EXIT_FAILURE;
  }
  // A file-system error that no library call wrapped names its path; it is the user's path or disk, not a bug.
  const fsErr = fromRawFsError(err);
  if (fsErr) return reportError(fsErr, io);
  const detail = err instanceof Error ? (err.stack ? mapStack(err.stack) : err.message) : String(err);
  io.stderr(`internal error (please report): ${redactText(detail)}\n`);
  return EXIT_INTERNAL;
}
