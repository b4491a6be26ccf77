// One error family for the whole library. The CLI maps codes to exit codes; tests assert codes, not prose.

export type ErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_DIGEST'
  | 'INVALID_INPUT'
  | 'INVALID_MANIFEST'
  | 'INVALID_CATALOG'
  | 'INVALID_MIRROR_CONFIG'
  | 'INVALID_IMAGE_MANIFEST' // a manifest/index/config from a registry or layout is malformed (not user input)
  | 'UNKNOWN_VERSION'
  | 'INCOMPATIBLE'
  | 'FILE_NOT_FOUND'
  | 'FILE_EXISTS'
  | 'IO_ERROR'
  | 'DIGEST_MISMATCH'
  | 'SIZE_LIMIT_EXCEEDED'
  | 'REGISTRY_ERROR'
  | 'UNAUTHORIZED'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'PLATFORM_NOT_FOUND'
  | 'WRONG_PLATFORM'
  | 'NETWORK_ERROR'
  | 'RANGE_IGNORED' // a ranged part was answered with the whole body: the caller falls back to one stream
  | 'MIRRORS_EXHAUSTED'
  | 'UPSTREAM_BLOCKED' // the mirror policy's blockUpstream refuses an image or file no mirror serves
  | 'DOWNLOAD_FAILED'
  | 'CHECKSUM_MISMATCH'
  | 'UNSAFE_ARCHIVE'
  | 'ARTIFACT_CORRUPT' // verify/import: an artifact is readable but has missing, extra or corrupt entries
  | 'LOCK_DRIFT' // #12: an image tag no longer points at the digest its manifest lock records
  | 'BASE_MISSING' // #12: a delta artifact applied where its base content is not (import dir, push registry)
  | 'SIGNATURE_INVALID' // #12: an image's cosign signature is missing, for another digest, or does not verify
  | 'INTERRUPTED' // SIGINT/SIGTERM: the run stopped cleanly (the CLI exits 130/143)
  | 'INTERNAL';

// Codes that mean "the user gave us something wrong" (exit 2) rather than "the operation failed" (exit 1).
const INPUT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_REFERENCE',
  'INVALID_DIGEST',
  'INVALID_INPUT',
  'INVALID_MANIFEST',
  'INVALID_CATALOG',
  'INVALID_MIRROR_CONFIG',
  'UNKNOWN_VERSION',
  'INCOMPATIBLE',
  'FILE_NOT_FOUND',
  'FILE_EXISTS',
  'UPSTREAM_BLOCKED',
]);

export class KkoError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
  }

  // True when the error is the caller's input, not the environment.
  get isInputError(): boolean {
    return INPUT_CODES.has(this.code);
  }
}

// A position-carrying problem found while reading a document (manifest, catalog, mirror policy).
export type Severity = 'error' | 'warning' | 'info';

export type Issue = {
  severity: Severity;
  code: string;
  message: string;
  file?: string;
  path?: string;
  line?: number;
  col?: number;
  hint?: string;
};

// Thrown when a document has one or more error-severity issues; carries all of them.
export class ValidationError extends KkoError {
  readonly issues: readonly Issue[];

  constructor(code: ErrorCode, message: string, issues: readonly Issue[]) {
    super(code, message);
    this.issues = issues;
  }
}

// The reason an operation's AbortSignal carries when the user stops the run (Ctrl-C, SIGTERM).
export class InterruptedError extends KkoError {
  readonly signal: 'SIGINT' | 'SIGTERM';

  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super('INTERRUPTED', `interrupted by ${signal}`, { hint: 're-run the same command to resume' });
    this.signal = signal;
  }
}

// The signal's reason when it was aborted, else `err`: after an abort, whatever a layer made of it, the
// interruption is what happened.
export function abortReason(err: unknown, signal: AbortSignal | undefined): unknown {
  return signal?.aborted ? (signal.reason as unknown) : err;
}

export function isKkoError(err: unknown): err is KkoError {
  return err instanceof KkoError;
}

// "file:line:col: path: message" — the one textual form of an issue used by every command.
export function formatIssue(issue: Issue): string {
  const where = [issue.file, issue.line, issue.col].filter((p) => p !== undefined).join(':');
  const path = issue.path ? `${issue.path}: ` : '';
  const head = where ? `${where}: ` : '';
  return `${head}${issue.severity}: ${path}${issue.message}`;
}
