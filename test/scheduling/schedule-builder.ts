import type { CodeableConcept, Extension, Period, Schedule, Slot } from 'fhir/r4';
import { SCHEDULE_AVAILABILITY_URL } from '../../src/scheduling/availability';
import { GENERATED_SLOT_TAG } from '../../src/scheduling/slot-generation';

export interface WindowInput {
  days?: string[];
  start?: string;
  end?: string;
  allDay?: boolean;
}

export interface ScheduleInput {
  id?: string;
  timezone?: string;
  slotMinutes?: number;
  bufferMinutes?: number;
  availableTime?: WindowInput[];
  notAvailable?: Array<{ description?: string; start?: string; end?: string }>;
  planningHorizon?: Period;
  active?: boolean;
  serviceType?: CodeableConcept[];
  specialty?: CodeableConcept[];
  serviceCategory?: CodeableConcept[];
}

export const GP: CodeableConcept = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '124' }] };

/** The availability extension as a client would write it. */
export function availabilityExtension(input: ScheduleInput): Extension {
  const sub: Extension[] = [];
  if (input.timezone !== undefined) sub.push({ url: 'timezone', valueCode: input.timezone });
  if (input.slotMinutes !== undefined) sub.push({ url: 'slotMinutes', valuePositiveInt: input.slotMinutes });
  if (input.bufferMinutes !== undefined) sub.push({ url: 'bufferMinutes', valueUnsignedInt: input.bufferMinutes });
  for (const w of input.availableTime ?? []) {
    const parts: Extension[] = (w.days ?? []).map((d) => ({ url: 'daysOfWeek', valueCode: d }));
    if (w.start !== undefined) parts.push({ url: 'availableStartTime', valueTime: w.start });
    if (w.end !== undefined) parts.push({ url: 'availableEndTime', valueTime: w.end });
    if (w.allDay !== undefined) parts.push({ url: 'allDay', valueBoolean: w.allDay });
    sub.push({ url: 'availableTime', extension: parts });
  }
  for (const n of input.notAvailable ?? []) {
    const parts: Extension[] = [];
    if (n.description !== undefined) parts.push({ url: 'description', valueString: n.description });
    const during: Period = {};
    if (n.start !== undefined) during.start = n.start;
    if (n.end !== undefined) during.end = n.end;
    parts.push({ url: 'during', valuePeriod: during });
    sub.push({ url: 'notAvailable', extension: parts });
  }
  return { url: SCHEDULE_AVAILABILITY_URL, extension: sub };
}

/** A Schedule with an id; `timezone` defaults to Europe/Athens, slots to the template default. */
export function makeSchedule(input: ScheduleInput = {}): Schedule & { id: string } {
  const schedule: Schedule & { id: string } = {
    resourceType: 'Schedule',
    id: input.id ?? 'dr-a',
    actor: [{ reference: 'Practitioner/a' }],
    extension: [availabilityExtension({ timezone: 'Europe/Athens', ...input })],
  };
  if (input.active !== undefined) schedule.active = input.active;
  if (input.planningHorizon) schedule.planningHorizon = input.planningHorizon;
  if (input.serviceType) schedule.serviceType = input.serviceType;
  if (input.specialty) schedule.specialty = input.specialty;
  if (input.serviceCategory) schedule.serviceCategory = input.serviceCategory;
  return schedule;
}

let nextId = 1;

/** A stored Slot of schedule `dr-a` (generated unless `handMade`). */
export function makeSlot(start: string, end: string, status: Slot['status'], options: { handMade?: boolean; scheduleId?: string } = {}): Slot & { id: string } {
  const slot: Slot & { id: string } = {
    resourceType: 'Slot',
    id: `slot-${nextId++}`,
    schedule: { reference: `Schedule/${options.scheduleId ?? 'dr-a'}` },
    status,
    start,
    end,
  };
  if (!options.handMade) slot.meta = { versionId: '1', tag: [{ ...GENERATED_SLOT_TAG }] };
  return slot;
}
