import type { CapabilityStatement } from 'fhir/r4';
import capabilityStatement from '../../capability-statement.json';

/**
 * GET [base]/metadata: the CapabilityStatement is the file `capability-statement.json` at the
 * repository root (SPEC §3); test/api/capability-statement.test.ts holds it against the route,
 * search-parameter and operation tables.
 */
export function readCapabilityStatement(): CapabilityStatement {
  // The JSON module is typed from its literal content; it is an R4 CapabilityStatement.
  return capabilityStatement as unknown as CapabilityStatement;
}
