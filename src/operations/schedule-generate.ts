import type { OperationDefinition, Parameters } from 'fhir/r4';
import { badRequest } from '../fhir/outcome';
import { parseDateRange } from '../fhir/param-values';
import type { ServerContext } from '../interactions/context';
import type { FhirRequest, FhirResult } from '../interactions/fhir-request';
import { generateScheduleSlots } from '../scheduling/generator';
import type { FhirOperation } from './operation';
import { OperationInput, param } from './parameters';

/** Schedule/{id}/$generate (SPEC §4.6): materialises the Schedule's Slots now. */
export const scheduleGenerateDefinition: OperationDefinition = {
  resourceType: 'OperationDefinition',
  id: 'schedule-generate',
  url: 'https://kairos.dev/fhir/OperationDefinition/schedule-generate',
  name: 'ScheduleGenerate',
  status: 'active',
  kind: 'operation',
  code: 'generate',
  resource: ['Schedule'],
  system: false,
  type: false,
  instance: true,
  affectsState: true,
  description: "Generates the Schedule's free Slots from its availability template, idempotently.",
  parameter: [
    param('end', 'in', 0, '1', 'dateTime', 'Generate up to here instead of now + SLOT_HORIZON_DAYS'),
    param('created', 'out', 1, '1', 'integer', 'Slots created'),
    param('removed', 'out', 1, '1', 'integer', 'Generated free Slots removed because they no longer fit'),
    param('unchanged', 'out', 1, '1', 'integer', 'Slot times that already had a Slot'),
  ],
};

export async function scheduleGenerateHandler(req: FhirRequest, ctx: ServerContext): Promise<FhirResult> {
  if (req.id === undefined) throw badRequest('$generate is invoked on a Schedule: POST Schedule/{id}/$generate');
  const input = OperationInput.from(req, scheduleGenerateDefinition);
  const endText = input.string('end');
  let end: number | undefined;
  if (endText !== undefined) {
    const range = parseDateRange(endText);
    if (range === undefined) throw badRequest('end must be a dateTime', ['Parameters.parameter'], 'value');
    end = range.lo;
  }
  const result = await generateScheduleSlots(ctx.store, ctx.now, req.id, {
    horizonDays: ctx.config.slotHorizonDays,
    end,
    agent: req.caller.subject,
  });
  const parameters: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'created', valueInteger: result.created },
      { name: 'removed', valueInteger: result.removed },
      { name: 'unchanged', valueInteger: result.unchanged },
    ],
  };
  return { status: 200, resource: parameters };
}

export const scheduleGenerate: FhirOperation = {
  name: 'generate',
  resourceType: 'Schedule',
  definition: scheduleGenerateDefinition,
  allowGet: false,
  handle: scheduleGenerateHandler,
};
