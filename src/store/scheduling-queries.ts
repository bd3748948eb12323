import type { StoreQuery } from './store';

/**
 * Store queries of the booking engine and slot generator, in the same filter shapes as
 * store/query.ts produces for FHIR search (so the embedded store's index planner serves them).
 * Kept beside query.ts: only store/ spells MongoDB operators.
 */

/**
 * A Slot longer than this is not looked for when flipping overlapping Slots or proposing times: it
 * bounds the index walk on `start` to `(lo - MAX_SLOT_MS, hi)`. Generated Slots are minutes long and
 * hand-made ones rarely exceed a day; a week made every booking walk a week of Slots per schedule.
 */
export const MAX_SLOT_MS = 86_400_000;

/** Active appointment states (SPEC §4.5) as indexed under `s.status`. */
const ACTIVE = ['pending', 'booked', 'arrived', 'checked-in'];

/**
 * Slots of these schedules overlapping `[lo, hi)`, optionally only in some statuses.
 *
 * The `end` condition is spelled `s.end.lo` (for one condition the same match as `$elemMatch` in
 * MongoDB): the embedded planner checks it on each candidate from the entry's ranges, after the
 * schedule + start compound index has given the few candidates (as a driver it would be
 * open-ended: every Slot ending after `lo`, in every schedule).
 */
export function slotsOverlapping(scheduleRefs: readonly string[], lo: number, hi: number, statuses?: readonly string[]): StoreQuery {
  const clauses: Array<Record<string, unknown>> = [
    { 's.schedule': { $in: [...scheduleRefs] } },
    { 's.start': { $elemMatch: { lo: { $lt: hi, $gt: lo - MAX_SLOT_MS } } } },
    { 's.end.lo': { $gt: lo } },
  ];
  if (statuses !== undefined) clauses.push({ 's.status': { $in: [...statuses] } });
  return { filter: { $and: clauses }, sort: [['o.start', 1], ['_id', 1]] };
}

/**
 * Candidates for `slotsOverlapping` without the `end` condition: Slots of these schedules starting
 * in `(lo - MAX_SLOT_MS, hi)`. For callers that read every match anyway ($find over days of Slots):
 * they check `end > lo` on the few extra Slots themselves, cheaper than a per-candidate check on all.
 */
export function slotsStartingNear(scheduleRefs: readonly string[], lo: number, hi: number, statuses?: readonly string[]): StoreQuery {
  const clauses: Array<Record<string, unknown>> = [
    { 's.schedule': { $in: [...scheduleRefs] } },
    { 's.start': { $elemMatch: { lo: { $lt: hi, $gt: lo - MAX_SLOT_MS } } } },
  ];
  if (statuses !== undefined) clauses.push({ 's.status': { $in: [...statuses] } });
  return { filter: { $and: clauses }, sort: [['o.start', 1], ['_id', 1]] };
}

/** Slots of this schedule starting in `[lo, hi)`, optionally only in some statuses (the generator's window; $find's own times). */
export function slotsStartingIn(scheduleRef: string, lo: number, hi: number, statuses?: readonly string[]): StoreQuery {
  const clauses: Array<Record<string, unknown>> = [{ 's.schedule': { $in: [scheduleRef] } }, { 's.start': { $elemMatch: { lo: { $gte: lo, $lt: hi } } } }];
  if (statuses !== undefined) clauses.push({ 's.status': { $in: [...statuses] } });
  return { filter: { $and: clauses }, sort: [['o.start', 1], ['_id', 1]] };
}

/**
 * Active appointments that block one of `actors` somewhere in `[lo, hi)` (their own buffer is
 * already in their block), except `excludeIds`.
 */
export function blockingAppointments(actors: readonly string[], lo: number, hi: number, excludeIds: readonly string[] = []): StoreQuery {
  const clauses: Array<Record<string, unknown>> = [
    { 's._block': { $elemMatch: { a: { $in: [...actors] }, lo: { $lt: hi }, hi: { $gt: lo } } } },
    // Implied by the block (its `lo` is the start, which `date` indexes) but decided by the date
    // index: appointments starting at or after `hi` are dropped before the `_block` check, which
    // the embedded planner can only make by parsing each candidate's search values.
    { 's.date': { $elemMatch: { lo: { $lt: hi } } } },
  ];
  if (excludeIds.length > 0) clauses.push({ _id: { $nin: [...excludeIds] } });
  return { filter: { $and: clauses } };
}

/** Active appointments whose `slot` includes one of these Slot references. */
export function activeAppointmentsUsingSlots(slotRefs: readonly string[], excludeIds: readonly string[] = []): StoreQuery {
  const clauses: Array<Record<string, unknown>> = [{ 's.slot': { $in: [...slotRefs] } }, { 's.status': { $in: ACTIVE } }];
  if (excludeIds.length > 0) clauses.push({ _id: { $nin: [...excludeIds] } });
  return { filter: { $and: clauses } };
}

/** Schedules naming one of these actors. */
export function schedulesWithActors(actors: readonly string[]): StoreQuery {
  return { filter: { $and: [{ 's.actor': { $in: [...actors] } }] } };
}

/** Held appointments (status pending), oldest first, for the hold-expiry job. */
export function pendingAppointments(limit: number): StoreQuery {
  return { filter: { $and: [{ 's.status': { $in: ['pending'] } }] }, sort: [['lastUpdated', 1], ['_id', 1]], limit };
}

/** Appointments with this identifier token (`system|value`), e.g. an Idempotency-Key. */
export function appointmentsWithIdentifier(systemValue: string): StoreQuery {
  return { filter: { $and: [{ 's.identifier': { $in: [systemValue] } }] }, limit: 2 };
}

/** Every active Schedule (the generator's periodic run). */
export function activeSchedules(): StoreQuery {
  return { filter: { $and: [{ 's.active': { $nin: ['false'] } }] }, sort: [['_id', 1]] };
}
