/**
 * The one failure the CLI commands report with exit code 2: the operator's input (flags, policy
 * files, test files) cannot be used. Decisions — allow or deny — are never errors.
 */
export class UsageError extends Error {
  readonly code = 'ERR_FHIRGATE_USAGE';
  override name = 'UsageError';
}
