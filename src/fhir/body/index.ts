/** Request-body validation and compartment-reference extraction (issue 3, item 7). */
export { validateBody } from './validate.ts';
export type { BodyFormat, BodyInput, BodyResult } from './validate.ts';
export { compileBodyRules, DEFAULT_BODY_LIMITS } from './rules.ts';
export type { BodyRules, BodyRulesConfig } from './rules.ts';
export { defaultSchemaPath, fhirSchemaValidator } from './schema.ts';
export type { FhirSchemaValidator, SchemaResult, UnknownElements } from './schema.ts';
export { parseContentType } from './content-type.ts';
export type { ContentTypeResult, MediaType } from './content-type.ts';
export { checkJsonCaps } from './json-caps.ts';
export type { CapsResult, JsonCaps } from './json-caps.ts';
export { parseJsonPointer, PROTECTED_POINTERS, validateJsonPatch } from './json-patch.ts';
export type { JsonPatchOp, JsonPatchOperation, JsonPatchResult } from './json-patch.ts';
export { compartmentExpressionSupport, compartmentReferences, UnsupportedCompartmentExpressionError } from './compartment-references.ts';
export { evaluatePaths, parseExpression, referenceTargetType } from './fhirpath-lite.ts';
export type { ParsedExpression, PathExpr, Step } from './fhirpath-lite.ts';
