import { badRequest } from './outcome';

/**
 * A search parameter name: letters, digits, `_ - . :` (chains and modifiers). Anything else —
 * notably `[`/`]` (qs-style objects) and a leading `$` (Mongo operators) — is refused with 400, so a
 * URL can never smuggle an operator into a query (SPEC §3).
 */
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_\-.:]*$/;

/** Parses a raw query string into ordered pairs; every value stays a string. */
export function parseQueryPairs(raw: string): Array<readonly [string, string]> {
  const pairs: Array<readonly [string, string]> = [];
  for (const [name, value] of new URLSearchParams(raw)) {
    if (!PARAM_NAME.test(name)) {
      throw badRequest(`Invalid parameter name "${name}": names are plain FHIR search parameter names`, undefined, 'value');
    }
    pairs.push([name, value]);
  }
  return pairs;
}
