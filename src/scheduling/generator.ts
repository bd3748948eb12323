import { setImmediate } from 'node:timers/promises';
import type { Appointment, Schedule, Slot } from 'fhir/r4';
import { notFound } from '../fhir/outcome';
import type { StoredFhirResource } from '../fhir/resource-types';
import { referenceKey } from '../fhir/search-index';
import { newId } from '../store/resource-write';
import { activeSchedules, blockingAppointments, slotsStartingIn } from '../store/scheduling-queries';
import type { ResourceWrite, Store } from '../store/store';
import { auditWrite } from './audit';
import { blockedByExtension, parseAppointmentBuffer, parseAvailability } from './availability';
import { isActiveStatus } from './lifecycle';
import { planSlotChanges, slotWriter } from './slot-generation';
import type { Interval } from './time';
import { WorkingSet } from './working-set';

const DAY = 86_400_000;
const MINUTE = 60_000;
/** The latest instant ECMAScript dates can hold: "no upper bound" for the Slot scan. */
const END_OF_TIME = 8.64e15;
/** Slots built between two event-loop turns (a few ms of work). */
const SLOTS_PER_TURN = 500;
const EXCLUSIVE_ACTOR_TYPES: ReadonlySet<string> = new Set(['Practitioner', 'PractitionerRole', 'Location', 'Device', 'HealthcareService']);

export interface GenerateOptions {
  /** SLOT_HORIZON_DAYS: how far ahead from now to materialise. */
  horizonDays: number;
  /** `$generate`'s `end` (epoch ms), instead of now + horizonDays. */
  end?: number;
  /** Who asked: a token subject, `anonymous`, or `kairos` for the periodic job. */
  agent: string;
}

export interface GenerateResult {
  created: number;
  removed: number;
  unchanged: number;
}

interface BookedTime extends Interval {
  appointment: string;
}

/**
 * One generator run for one Schedule (SPEC §4.4), in one store transaction locked on the Schedule
 * and its actors (so it serialises with bookings of those actors): reads the schedule's Slots from
 * now on and the time its actors are booked, plans with `planSlotChanges`, writes the new Slots
 * (busy, with `blocked-by`, where already-booked time overlaps) and deletes generated free Slots
 * that no longer fit. An AuditEvent records a run that changed anything.
 */
export async function generateScheduleSlots(store: Store, now: () => number, scheduleId: string, options: GenerateOptions): Promise<GenerateResult> {
  const current = await store.read('Schedule', scheduleId);
  const schedule0 = current?.resource as (StoredFhirResource & Schedule) | null | undefined;
  if (schedule0 === null || schedule0 === undefined) throw notFound(`Schedule/${scheduleId} is not known`);
  const actorsOf = (s: Schedule): string[] =>
    s.actor.map((a) => (a.reference === undefined ? undefined : referenceKey(a.reference))).filter((k): k is string => k !== undefined && EXCLUSIVE_ACTOR_TYPES.has(k.slice(0, k.indexOf('/'))));
  const lockKeys = [`Schedule/${scheduleId}`, ...actorsOf(schedule0)].sort();
  return store.transaction(lockKeys, async (reader) => {
    const t = now();
    const ws = new WorkingSet(reader, t);
    const schedule = (await ws.get('Schedule', scheduleId)) as (StoredFhirResource & Schedule) | undefined;
    if (schedule === undefined) throw notFound(`Schedule/${scheduleId} is not known`);
    const template = parseAvailability(schedule);
    const horizonEnd = options.end ?? t + options.horizonDays * DAY;
    const existing = (await ws.find('Slot', slotsStartingIn(`Schedule/${scheduleId}`, t, END_OF_TIME))) as Array<StoredFhirResource & Slot>;
    const actors = actorsOf(schedule);
    const booked: BookedTime[] = [];
    if (actors.length > 0 && template !== undefined) {
      const appointments = (await ws.find('Appointment', blockingAppointments(actors, t, horizonEnd))) as Array<StoredFhirResource & Appointment>;
      for (const a of appointments) {
        if (!isActiveStatus(a.status) || a.start === undefined || a.end === undefined) continue;
        const buffer = (parseAppointmentBuffer(a) ?? 0) * MINUTE;
        booked.push({ start: Date.parse(a.start), end: Date.parse(a.end) + buffer, appointment: `Appointment/${a.id}` });
      }
    }
    const plan = planSlotChanges({ schedule, template, now: t, horizonEnd, existing, booked });
    // New Slots bypass the working set: fresh ids, nothing read to check them against.
    const writeSlot = slotWriter(schedule, t);
    const created: ResourceWrite[] = [];
    for (const slot of plan.create) {
      // A slice per event-loop turn: the server keeps answering reads while a run builds thousands of Slots.
      if (created.length % SLOTS_PER_TURN === SLOTS_PER_TURN - 1) await setImmediate();
      if (slot.status === 'busy') {
        const s = Date.parse(slot.start);
        const e = Date.parse(slot.end);
        const blockers = booked.filter((b) => b.start < e && b.end > s).map((b) => blockedByExtension({ reference: b.appointment }));
        // The plan's Slots are this run's own fresh objects: extend them rather than copy them.
        slot.extension = [...(slot.extension ?? []), ...blockers];
      }
      created.push(writeSlot(slot, newId()));
    }
    for (const slot of plan.remove) ws.put('Slot', slot.id, null, 'DELETE');
    const result: GenerateResult = { created: plan.create.length, removed: plan.remove.length, unchanged: plan.unchanged };
    if (result.created + result.removed > 0) {
      const audit = auditWrite({
        action: 'generate',
        agent: options.agent,
        entities: [`Schedule/${scheduleId}`],
        outcome: 'success',
        description: `created ${result.created}, removed ${result.removed}, unchanged ${result.unchanged}`,
        now: t,
      });
      if (audit.resource !== null) ws.put('AuditEvent', audit.id, audit.resource, 'POST');
    }
    return { writes: created.concat(ws.writes()), result };
  });
}

/**
 * The periodic job's body: rolls every active Schedule forward (SPEC §4.4), one run per Schedule.
 * Two runs are in flight at a time, so one is planned and written while the other waits for its
 * commit to be durable (the embedded store's fsync happens outside its write lock; otherwise the
 * job idles through every fsync). The first failure stops the job and is thrown once the run
 * started alongside it has ended.
 */
export async function generateAllSchedules(store: Store, now: () => number, options: Omit<GenerateOptions, 'end'>): Promise<GenerateResult> {
  const total: GenerateResult = { created: 0, removed: 0, unchanged: 0 };
  const { documents } = await store.find('Schedule', activeSchedules());
  let failure: { error: unknown } | undefined;
  let previous: Promise<void> = Promise.resolve();
  for (const doc of documents) {
    // Settled into `failure` at once: a run that fails while the previous one is awaited is handled.
    const run = generateScheduleSlots(store, now, doc._id, options).then(
      (r) => {
        total.created += r.created;
        total.removed += r.removed;
        total.unchanged += r.unchanged;
      },
      (error: unknown) => {
        failure ??= { error };
      },
    );
    await previous;
    previous = run;
    if (failure !== undefined) break;
  }
  await previous;
  if (failure !== undefined) throw failure.error;
  return total;
}
