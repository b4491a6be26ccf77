import type { Writable } from 'node:stream';
import { InterruptedError } from '../errors.js';

// What a command may touch of the outside world; injected so tests run the CLI in-process.
export type CliIo = {
  stdout: (text: string) => void;
  // The raw stream behind stdout, for binary output (`artifact export -o -`).
  stdoutStream?: Writable;
  stderr: (text: string) => void;
  // Raw stderr for the CLI's own terminal control (progress bars' cursor codes). main() passes stdout and stderr
  // through safeLines(); whoever writes here escapes the data in it with safeText().
  frame?: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  isTTY: boolean; // stdout is a terminal (no archive there; NDJSON is the default elsewhere)
  stderrIsTTY?: boolean; // stderr is a terminal: progress bars and colour go there
  // Long commands (export, precheck) call it to handle SIGINT/SIGTERM themselves: from then on a signal aborts
  // the returned AbortSignal with an InterruptedError instead of killing the process. Others keep Node's default.
  interrupts?: () => AbortSignal;
};

let interrupts: AbortController | undefined;

// One AbortController for the process, installed on first use: the first SIGINT/SIGTERM aborts it (the command
// cleans up and exits 130/143); a second one exits at once.
function processInterrupts(): AbortSignal {
  if (!interrupts) {
    const ctrl = new AbortController();
    const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
      if (ctrl.signal.aborted) process.exit(exitCodeFor(signal));
      ctrl.abort(new InterruptedError(signal));
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    interrupts = ctrl;
  }
  return interrupts.signal;
}

export function processIo(): CliIo {
  return {
    interrupts: processInterrupts,
    stdout: (t) => process.stdout.write(t),
    stdoutStream: process.stdout,
    stderr: (t) => process.stderr.write(t),
    frame: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

// Exit codes, documented in the README: 0 ok, 1 operational failure, 2 invalid input, 70 internal error.
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_INVALID = 2;
export const EXIT_INTERNAL = 70;
// Interrupted: 128 + the signal number, as shells report it.
export const EXIT_SIGINT = 130;
export const EXIT_SIGTERM = 143;

export function exitCodeFor(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? EXIT_SIGINT : EXIT_SIGTERM;
}
