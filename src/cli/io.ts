import type { Writable } from 'node:stream';

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
  isTTY: boolean;
};

export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stdoutStream: process.stdout,
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stdout.isTTY),
  };
}

// Exit codes, documented in the README: 0 ok, 1 operational failure, 2 invalid input, 70 internal error.
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_INVALID = 2;
export const EXIT_INTERNAL = 70;
