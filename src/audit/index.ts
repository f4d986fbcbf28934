export { MAX_AUDIT_PATIENTS, buildAuditEvent } from './event.ts';
export type { AuditContext, AuditEvent, AuditInput, AuditRequest } from './event.ts';
export {
  MIN_PSEUDONYM_KEY_BYTES,
  PSEUDONYM_LENGTH,
  PseudonymKeyTooShortError,
  PseudonymKeyUnreadableError,
  createPseudonymizer,
  keyFromFileContent,
  loadPseudonymKey,
} from './pseudonym.ts';
export type { PseudonymKeyOptions, PseudonymKind, Pseudonymizer } from './pseudonym.ts';
export { FileSink, MemorySink, StdoutSink } from './sink.ts';
export type { AuditSink, AuditStream, DropCause, DropListener, FileSinkOptions, StdoutSinkOptions } from './sink.ts';
