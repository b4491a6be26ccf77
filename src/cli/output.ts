import type { Logger } from '../log.js';
import type { CliIo } from './io.js';

// How much the CLI says on stderr: error < warn < info (default) < debug. --quiet is warn (no bars, no summary),
// --verbose is debug; --log-level picks any. Errors are always printed.
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function atLeast(level: LogLevel, wanted: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(wanted);
}

// Colour on stderr: FORCE_COLOR (anything but 0/false) turns it on and wins, as in Node; a non-empty NO_COLOR turns it
// off (no-color.org); otherwise only when stderr is a terminal that is not TERM=dumb.
export function colourOn(io: Pick<CliIo, 'env' | 'stderrIsTTY'>): boolean {
  const force = io.env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  return Boolean(io.stderrIsTTY) && io.env.TERM !== 'dumb';
}

const LABELS = { error: '31;1', warning: '33;1', hint: '36', debug: '2' } as const;
export type Label = keyof typeof LABELS;

// "label: text" on stderr. The label's colour codes are the CLI's own framing and go raw through io.frame; the text is
// data and goes through io.stderr, which escapes every control character in it.
export function say(io: CliIo, label: Label, text: string, indent = ''): void {
  if (io.frame && colourOn(io)) {
    io.stderr(indent);
    io.frame(`\x1b[${LABELS[label]}m${label}:\x1b[0m`);
    io.stderr(` ${text}\n`);
  } else io.stderr(`${indent}${label}: ${text}\n`);
}

// The library's Logger on stderr at the chosen level: warn → "warning:", info as is, debug → "debug:". `around` wraps
// each whole line (the progress bars erase themselves before it and come back after).
export function cliLogger(io: CliIo, level: () => LogLevel, around: (write: () => void) => void = (w) => w()): Logger {
  const line = (wanted: LogLevel, write: () => void): void => {
    if (atLeast(level(), wanted)) around(write);
  };
  return {
    warn: (m) => line('warn', () => say(io, 'warning', m)),
    info: (m) => line('info', () => io.stderr(`${m}\n`)),
    debug: (m) => line('debug', () => say(io, 'debug', m)),
  };
}
