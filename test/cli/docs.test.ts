import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ZONES } from '../../src/mirror/zones.js';
import { runCli } from './run-cli.js';

const README = await readFile(new URL('../../README.md', import.meta.url), 'utf8');

// The program's command tree, read from `--help` of each command (what users see).
async function helpOf(path: string[]): Promise<string> {
  return (await runCli([...path, '--help'])).stdout;
}

function commandsIn(help: string): string[] {
  const after = help.split(/^Commands:$/m)[1] ?? '';
  const section = after.split(/\n(?=\S)/)[0] ?? ''; // up to the next unindented line (e.g. "Examples:")
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] as string).filter((c) => c !== 'help');
}

async function allCommands(path: string[] = []): Promise<string[][]> {
  if (path.length > 3) throw new Error(`command tree deeper than expected: ${path.join(' ')}`);
  const subs = commandsIn(await helpOf(path));
  const out: string[][] = [];
  for (const s of subs) out.push([...path, s], ...(await allCommands([...path, s])));
  return out;
}

describe('README matches --help (#9)', () => {
  it('every command and every long flag in --help is in the README', async () => {
    const missing: string[] = [];
    for (const path of await allCommands()) {
      if (!README.includes(`kko ${path.join(' ')}`) && !README.includes(`\`${path.at(-1)}\``))
        missing.push(`kko ${path.join(' ')}`);
      const help = await helpOf(path);
      const short = new Map(
        [...help.matchAll(/^ +(-[a-zA-Z]), (--[a-z][a-z0-9-]*)/gm)].map((m) => [m[2] as string, m[1] as string]),
      );
      const flags = [...help.matchAll(/--[a-z][a-z0-9-]*/g)].map((m) => m[0]);
      const documented = (f: string) =>
        README.includes(f) || README.includes(`\`${short.get(f) ?? f} `) || README.includes(`\`${short.get(f) ?? f}\``);
      for (const f of new Set(flags)) if (f !== '--help' && !documented(f)) missing.push(`kko ${path.join(' ')} ${f}`);
    }
    expect(missing).toEqual([]);
  });

  it('lists every NDJSON event export emits', async () => {
    const src = await readFile(new URL('../../src/export/events.ts', import.meta.url), 'utf8');
    const types = [...src.matchAll(/type: '([a-z-]+)'/g)].map((m) => m[1] as string).filter((t) => t !== 'bytes');
    const section = README.slice(README.indexOf('NDJSON events'));
    for (const t of [...types, 'progress']) expect(section).toContain(`\`${t}\``);
  });

  it('says how --compress is chosen and what inspect reads, as --help does', async () => {
    expect(await helpOf(['artifact', 'export'])).toMatch(/from the -o name/);
    expect(README).toMatch(/`--compress gzip`[^\n]*\n[^\n]*from the `-o` name/);
    expect(await helpOf(['artifact', 'inspect'])).toContain('.tar.zst');
    expect(README).toContain('`-o -`');
  });
});

// Each option of a --help as one line: its flags and its help text (commander wraps long texts onto indented lines).
function optionHelps(help: string): Map<string, string> {
  const section = (help.split(/^Options:$/m)[1] ?? '').split(/\n(?=\S)/)[0] ?? '';
  const out = new Map<string, string>();
  for (const block of section.split(/\n(?= {2}-)/)) {
    const text = block.replace(/\s+/g, ' ').trim();
    const m = /^(?:-[a-zA-Z], )?(--[a-z][a-z0-9-]*)(?: <[^>]+>)? (.*)$/.exec(text);
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

// Every command's help text of `flag`, by command.
async function flagHelps(flag: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of await allCommands()) {
    const text = optionHelps(await helpOf(path)).get(flag);
    if (text) out.set(path.join(' '), text);
  }
  return out;
}

describe('flags many commands share have one help text', () => {
  it('every --zone names the zones ZONES lists, in the same words', async () => {
    const zone = await flagHelps('--zone');
    expect(zone.size).toBeGreaterThanOrEqual(3);
    expect(new Set(zone.values()).size, [...zone].join('\n')).toBe(1);
    for (const z of ZONES) expect([...zone.values()][0]).toContain(z);
  });

  it('every --kk-version says how to find your kk release (./kk version) and what is taken without the flag', async () => {
    const kk = await flagHelps('--kk-version');
    expect(kk.size).toBeGreaterThanOrEqual(7);
    for (const [cmd, text] of kk) {
      expect(text, cmd).toContain('(yours: ./kk version)');
      expect(text, cmd).toContain('./kk or kk on PATH, else the newest kko knows');
    }
  });
});
