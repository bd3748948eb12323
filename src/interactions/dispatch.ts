import { badRequest, methodNotAllowed, notFound } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { RouteMatch } from '../fhir/routes';
import type { FhirOperation } from '../operations/operation';
import { applySubsetting, keepsEverything, parseSubsetting } from '../fhir/subsetting';
import { readCapabilityStatement } from './capabilities';
import type { ServerContext } from './context';
import { createResource } from './create';
import { deleteResource } from './delete';
import { withResource } from './fhir-request';
import type { FhirRequest, FhirResult } from './fhir-request';
import { historyResource } from './history';
import { patchResource } from './patch';
import { readResource } from './read';
import { searchResources } from './search';
import { updateResource } from './update';
import { vreadResource } from './vread';
import { batchOrTransaction } from './batch';
import { authorize, restrictResult } from './access';

/** Everything a dispatch needs beyond the request: the server context and the operation table. */
export interface DispatchContext extends ServerContext {
  readonly operations: readonly FhirOperation[];
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw badRequest(`Missing ${what} in the URL`);
  return value;
}

/** Looks up `$name` for a type (instance-level operations are registered under the same name). */
export function findOperation(ctx: DispatchContext, resourceType: ResourceType, name: string): FhirOperation {
  const op = ctx.operations.find((o) => o.resourceType === resourceType && o.name === name);
  if (op === undefined) throw notFound(`Unknown operation $${name} on ${resourceType}`);
  return op;
}

/**
 * Runs the interaction a route names. Used by the HTTP layer and, for each entry, by batch and
 * transaction processing, so both paths behave identically.
 */
export async function dispatch(match: RouteMatch, request: FhirRequest, ctx: DispatchContext): Promise<FhirResult> {
  const req = await authorizeRequest(match, request, ctx);
  return restrictResult(match, req, await run(match, req, ctx));
}

/**
 * SPEC §6: every interaction and operation, also each Bundle entry, is authorized (interactions/
 * access.ts) before it runs; returns the request to run (a patient's searches carry its compartment).
 */
export async function authorizeRequest(match: RouteMatch, request: FhirRequest, ctx: DispatchContext): Promise<FhirRequest> {
  const operation =
    match.interaction === 'operation' && match.resourceType !== undefined && match.operation !== undefined
      ? findOperation(ctx, match.resourceType, match.operation)
      : undefined;
  return authorize(match, request, ctx.store, operation?.allowGet ?? false);
}

async function run(match: RouteMatch, req: FhirRequest, ctx: DispatchContext): Promise<FhirResult> {
  const type = (): ResourceType => required(match.resourceType, 'resource type');
  const id = (): string => required(match.id, 'resource id');
  switch (match.interaction) {
    case 'capabilities':
      return { status: 200, resource: readCapabilityStatement() };
    case 'batch-transaction':
      return batchOrTransaction(req, ctx);
    case 'read':
      return withSubsetting(req, await readResource({ ...req, resourceType: type(), id: id() }, ctx));
    case 'vread':
      return withSubsetting(
        req,
        await vreadResource({ ...req, resourceType: type(), id: id(), versionId: required(match.versionId, 'version id') }, ctx),
      );
    case 'update':
      return updateResource({ ...req, resourceType: type(), id: id() }, ctx);
    case 'patch':
      return patchResource({ ...req, resourceType: type(), id: id() }, ctx);
    case 'delete':
      return deleteResource({ ...req, resourceType: type(), id: id() }, ctx);
    case 'history-instance':
      return historyResource({ ...req, resourceType: type(), id: id() }, ctx);
    case 'history-type':
      return historyResource({ ...req, resourceType: type(), id: undefined }, ctx);
    case 'create':
      return createResource({ ...req, resourceType: type() }, ctx);
    case 'search-type':
      return searchResources({ ...req, resourceType: type() }, ctx);
    case 'operation': {
      const op = findOperation(ctx, type(), required(match.operation, 'operation name'));
      if (req.method !== 'POST' && !op.allowGet) {
        throw methodNotAllowed(`$${op.name} changes data and must be invoked with POST`, ['POST']);
      }
      return op.handle({ ...req, resourceType: type(), id: match.id, operation: op.name }, ctx);
    }
  }
}

function withSubsetting(req: FhirRequest, result: FhirResult): FhirResult {
  const subsetting = parseSubsetting(req.query);
  // Nothing asked: the result stays as it is (its stored JSON text, if any, passes through unparsed).
  if (keepsEverything(subsetting) || result.resource === undefined) return result;
  return withResource(result, applySubsetting(result.resource, subsetting));
}
