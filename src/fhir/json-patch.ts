import * as jsonpatch from 'jsonpatch';
import { badRequest, unprocessable } from './outcome';

// jsonpatch 3.1 declares its error classes as interfaces only; these are the runtime constructors.
const runtime = jsonpatch as unknown as {
  InvalidPatch: new (message: string) => Error;
  PatchApplyError: new (message: string) => Error;
};

/**
 * Applies an RFC 6902 JSON Patch without touching `document` (jsonpatch 3.1 is atomic: a failed
 * operation leaves the input as it was). R4 http.html#patch: a malformed patch is 400; a patch that
 * cannot be applied, including a failed `test` operation, is 422.
 * The result shares unchanged parts with the input: callers must not mutate it in place.
 */
export function applyJsonPatch(document: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) {
    throw badRequest('A JSON Patch body must be an array of operations (RFC 6902)', undefined, 'structure');
  }
  try {
    return jsonpatch.apply_patch(document, patch);
  } catch (e) {
    if (e instanceof runtime.InvalidPatch) {
      throw badRequest(`Invalid JSON Patch: ${e.message}`, undefined, 'structure');
    }
    if (e instanceof runtime.PatchApplyError) {
      throw unprocessable(`JSON Patch could not be applied: ${e.message}`, undefined, 'processing');
    }
    throw e;
  }
}
