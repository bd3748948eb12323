import type { ResourceType } from '../fhir/resource-types';
import { generateScheduleSlots } from '../scheduling/generator';
import type { ServerContext } from './context';
import type { FhirRequest } from './fhir-request';

/**
 * SPEC §4.4: creating or updating a Schedule generates its Slots before the response returns, so a
 * client can search them right away. The run is its own transaction after the Schedule's write;
 * should it fail, the periodic job catches up.
 */
export async function afterWrite(req: FhirRequest, ctx: ServerContext, resourceType: ResourceType, id: string): Promise<void> {
  if (resourceType !== 'Schedule') return;
  await generateScheduleSlots(ctx.store, ctx.now, id, { horizonDays: ctx.config.slotHorizonDays, agent: req.caller.subject });
}
