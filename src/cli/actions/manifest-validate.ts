import type { Catalog } from '../../catalog/index.js';
import { formatIssue, type Issue } from '../../errors.js';
import { validateManifests, type ParsedManifest } from '../../manifest/index.js';
import { ONLINE_CODES, precheckIssues } from '../../export/index.js';
import { safeText } from '../../util/safe-text.js';
import { sortIssues } from '../../util/yaml-doc.js';
import { EXIT_FAILURE, EXIT_INVALID } from '../io.js';
import { runOnlineCheck } from './precheck.js';
import { absPath, catalogFor, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import type { ValidateOptions } from '../commands/manifest-validate.js';

// Flags → validateManifests (every step in one run) → --online on top when the files are well-formed → print.
export async function runValidate(o: ValidateOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const r = await validateManifests({
    catalog,
    files: o.file.map((f) => absPath(ctx, f)),
    kkVersion: (recorded) => resolveKkVersion(ctx, catalog, o.kkVersion, recorded),
    ...(o.cluster ? { clusterFile: absPath(ctx, o.cluster) } : {}),
  });
  let issues = r.issues;
  if (o.online && r.kkVersion && r.wellFormed && !issues.some((i) => i.severity === 'error')) {
    issues = sortIssues([...issues, ...(await onlineIssues(ctx, catalog, r.parsed, { ...o, kkVersion: r.kkVersion }))]);
  }
  const errors = issues.filter((i) => i.severity === 'error').length;
  const warnings = issues.filter((i) => i.severity === 'warning').length;
  if (o.json) {
    printJson(ctx, {
      valid: errors === 0,
      kkVersion: r.kkVersion ?? null,
      choices: r.choices ?? null,
      errors,
      warnings,
      issues,
    });
  } else {
    for (const i of issues) {
      const out = i.severity === 'info' ? ctx.io.stdout : ctx.io.stderr;
      out(`${safeText(formatIssue(i))}\n`);
      if (i.hint) out(`  hint: ${i.hint}\n`);
    }
    const summary = `${o.file.join(', ')}: ${errors} error(s), ${warnings} warning(s)${r.kkVersion ? ` against kk ${r.kkVersion}` : ''}\n`;
    (errors > 0 ? ctx.io.stderr : ctx.io.stdout)(summary);
  }
  const offline = issues.some((i) => i.severity === 'error' && !ONLINE_CODES.has(i.code));
  if (errors > 0) ctx.setExit(offline ? EXIT_INVALID : EXIT_FAILURE);
}

// --online: the precheck of the well-formed files, as issues (precheckIssues).
async function onlineIssues(
  ctx: CommandContext,
  catalog: Catalog,
  parsed: ParsedManifest[],
  o: ValidateOptions,
): Promise<Issue[]> {
  return precheckIssues(await runOnlineCheck(ctx, catalog, parsed, o), parsed);
}
