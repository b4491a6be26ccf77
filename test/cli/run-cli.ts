import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

export type CliRun = { code: number; stdout: string; stderr: string };

// Run the CLI in-process with captured output; PATH is emptied so no real kk is found unless given.
export async function runCli(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { PATH: '', ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    isTTY: false,
  });
  return { code, stdout, stderr };
}

// A fresh temp dir, removed by the returned cleanup.
export async function tempDir(prefix = 'kko-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
