import { ValidationError, type Issue } from '../../errors.js';
import { kkRules, loadManifestFile, type ParsedManifest } from '../../manifest/index.js';
import { sortIssues } from '../../util/yaml-doc.js';
import { absPath } from '../common.js';
import type { CommandContext } from '../context.js';

// Load manifests for commands that need them well-formed (images, diff, merge): any error → exit 2 with all issues.
export async function readManifests(ctx: CommandContext, files: string[]): Promise<ParsedManifest[]> {
  const out: ParsedManifest[] = [];
  const issues: Issue[] = [];
  for (const f of files) {
    const { parsed, issues: found } = await loadManifestFile(absPath(ctx, f));
    issues.push(...found.filter((i) => i.severity === 'error'));
    if (parsed) {
      issues.push(...kkRules(parsed).filter((i) => i.severity === 'error'));
      out.push(parsed);
    }
  }
  if (issues.length > 0)
    throw new ValidationError(
      'INVALID_MANIFEST',
      `${issues.length} error(s) in the input manifest(s)`,
      sortIssues(issues),
    );
  return out;
}
