import { KkoError } from '../errors.js';
import type { CliIo } from './io.js';
import type { LogLevel } from './output.js';

// Passed to every command's register function. `level` is set from --quiet / --verbose / --log-level before the
// command runs (info when a test builds a context without it).
export type CommandContext = {
  io: CliIo;
  setExit: (code: number) => void;
  level?: LogLevel;
};

// Print a value as stable, 2-space JSON with a trailing newline (the only JSON form commands emit).
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

// commander collector for repeatable, comma-separable flags: --arch amd64 --arch arm64 or --arch amd64,arm64.
export function collectList(value: string, previous: string[] | undefined): string[] {
  const items = value.split(',').map((s) => s.trim());
  return [...(previous ?? []), ...items];
}

// --json prints a summary of what was written; with the manifest itself on stdout the two would mix.
export function jsonNeedsOutput(command: string): KkoError {
  return new KkoError(
    'INVALID_INPUT',
    `manifest ${command} --json: needs -o FILE${command === 'create' ? ' or --split DIR' : ''} (stdout carries the manifest)`,
    {
      hint: `add -o manifest.yaml, or drop --json to get the YAML on stdout`,
    },
  );
}
