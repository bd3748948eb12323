import { Query } from 'mingo';
import { TypeIndexes, INDEXED_PARAMETERS } from '../../src/store/embedded/indexes';
import type { Entry } from '../../src/store/embedded/entry';
import { planQuery } from '../../src/store/embedded/query-planner';
import type { ResourceType } from '../../src/fhir/resource-types';
import type { ResourceWrite } from '../../src/store/store';
import { activeAppointmentsUsingSlots, activeSchedules, blockingAppointments, slotsOverlapping } from '../../src/store/scheduling-queries';
import { appointmentWrite, slotWrite } from './store-contract';

/*
 * The planner decides the booking engine's clauses itself (`_block` with times, `s.end.lo`,
 * `_id`/hash `$nin`) instead of handing them to mingo. Pin down that its answer is exactly mingo's
 * on the same documents, and that nothing is left to mingo for those queries.
 */

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MINUTE = 60_000;

interface Loaded {
  indexes: TypeIndexes;
  entries: Map<string, Entry>;
}

function load(type: ResourceType, writes: readonly ResourceWrite[]): Loaded {
  const indexes = new TypeIndexes(INDEXED_PARAMETERS[type]);
  const entries = new Map<string, Entry>();
  for (const w of writes) {
    const entry: Entry = {
      _id: w.id,
      versionId: w.versionId,
      lastUpdated: w.lastUpdated,
      deleted: false,
      searchJson: JSON.stringify(w.s),
      o: w.o,
      ranges: indexes.rangesOf(w.s),
      h: 0,
    };
    entries.set(w.id, entry);
    indexes.add(entry, w.s);
  }
  return { indexes, entries };
}

/** The ids the plan selects (driver, or every entry, filtered by the checks), and its residual. */
function planned(loaded: Loaded, filter: Record<string, unknown>): { ids: string[]; residual: number } {
  const plan = planQuery(filter, { indexes: loaded.indexes, entry: (id) => loaded.entries.get(id) });
  const candidates = plan.driver === undefined ? [...loaded.entries.keys()] : [...plan.driver];
  const ids = candidates.filter((id) => {
    const entry = loaded.entries.get(id);
    return entry !== undefined && plan.checks.every((check) => check(entry));
  });
  return { ids: ids.sort(), residual: plan.residual.length };
}

function mingoIds(loaded: Loaded, filter: Record<string, unknown>): string[] {
  const query = new Query(filter);
  return [...loaded.entries.values()]
    .filter((e) => query.test({ _id: e._id, s: JSON.parse(e.searchJson), o: e.o }))
    .map((e) => e._id)
    .sort();
}

describe('query planner', () => {
  const appointments = load('Appointment', [
    appointmentWrite('past', ['Practitioner/p'], T0 - 120 * MINUTE, T0 - 60 * MINUTE),
    appointmentWrite('buffer-reaches-in', ['Practitioner/p'], T0, T0 + 15 * MINUTE, 30),
    appointmentWrite('inside', ['Practitioner/p', 'Location/r'], T0 + 30 * MINUTE, T0 + 45 * MINUTE),
    appointmentWrite('starts-at-hi', ['Practitioner/p'], T0 + 60 * MINUTE, T0 + 90 * MINUTE),
    appointmentWrite('other-actor', ['Practitioner/q'], T0 + 30 * MINUTE, T0 + 45 * MINUTE),
    appointmentWrite('room-only', ['Location/r'], T0 + 40 * MINUTE, T0 + 50 * MINUTE),
  ]);
  const slots = load('Slot', [
    slotWrite({ id: 'ends-at-lo', start: T0, minutes: 30 }),
    slotWrite({ id: 'straddles-lo', start: T0 + 15 * MINUTE, minutes: 30 }),
    slotWrite({ id: 'inside-busy', start: T0 + 45 * MINUTE, minutes: 15, status: 'busy' }),
    slotWrite({ id: 'starts-at-hi', start: T0 + 60 * MINUTE, minutes: 15 }),
    slotWrite({ id: 'other-schedule', start: T0 + 30 * MINUTE, minutes: 15, schedule: 'Schedule/s2' }),
  ]);
  const lo = T0 + 30 * MINUTE;
  const hi = T0 + 60 * MINUTE;

  it.each([
    ['one actor', blockingAppointments(['Practitioner/p'], lo, hi)],
    ['two actors, one excluded appointment', blockingAppointments(['Practitioner/p', 'Location/r'], lo, hi, ['inside'])],
    ['an actor with no appointments', blockingAppointments(['Practitioner/z'], lo, hi)],
    ['a window before everything', blockingAppointments(['Practitioner/p'], T0 - 600 * MINUTE, T0 - 500 * MINUTE)],
    ['active appointments using slots, one excluded', activeAppointmentsUsingSlots(['Slot/x'], ['inside'])],
  ])('decides Appointment queries exactly, without mingo: %s', (_name, query) => {
    const result = planned(appointments, query.filter);
    expect(result.residual).toBe(0);
    expect(result.ids).toEqual(mingoIds(appointments, query.filter));
  });

  it('finds exactly the appointments blocking a window (buffer included, one starting at its end not)', () => {
    expect(planned(appointments, blockingAppointments(['Practitioner/p'], lo, hi).filter).ids).toEqual(['buffer-reaches-in', 'inside']);
  });

  it("walks only one schedule's free Slots for a schedule + status + window query, not every Slot of the schedule", () => {
    const loaded = load('Slot', [
      slotWrite({ id: 'free-1', start: T0 }),
      slotWrite({ id: 'busy-1', start: T0 + 15 * MINUTE, status: 'busy' }),
      slotWrite({ id: 'free-2', start: T0 + 30 * MINUTE }),
      slotWrite({ id: 'free-later', start: T0 + 600 * MINUTE }),
      slotWrite({ id: 'free-elsewhere', start: T0, schedule: 'Schedule/s2' }),
    ]);
    const filter = slotsOverlapping(['Schedule/s1'], T0, T0 + 60 * MINUTE, ['free']).filter;
    const plan = planQuery(filter, { indexes: loaded.indexes, entry: (id) => loaded.entries.get(id) });
    expect([...(plan.driver ?? [])].sort()).toEqual(['free-1', 'free-2']);
    expect(planned(loaded, filter)).toEqual({ ids: mingoIds(loaded, filter), residual: 0 });
  });

  it("answers a booking's overlap query from what overlaps its window, not from the actor's whole history", () => {
    // 400 past appointments of one practitioner and two around the window: the plan's driver must
    // be the overlapping ones (BlockTimes), not every appointment of the actor (the `_block` hash
    // index), which made each booking's cost grow with the practitioner's history.
    const history = Array.from({ length: 400 }, (_, i) => appointmentWrite(`h${i}`, ['Practitioner/h'], T0 - (i + 2) * 60 * MINUTE, T0 - (i + 2) * 60 * MINUTE + 30 * MINUTE));
    const loaded = load('Appointment', [
      ...history,
      appointmentWrite('overlaps', ['Practitioner/h'], lo - 10 * MINUTE, lo + 10 * MINUTE),
      appointmentWrite('long-before', ['Practitioner/h'], lo - 600 * MINUTE, lo + 5 * MINUTE),
      appointmentWrite('after', ['Practitioner/h'], hi, hi + 30 * MINUTE),
    ]);
    const query = blockingAppointments(['Practitioner/h'], lo, hi);
    const plan = planQuery(query.filter, { indexes: loaded.indexes, entry: (id) => loaded.entries.get(id) });
    expect([...(plan.driver ?? [])].sort()).toEqual(['long-before', 'overlaps']);
    expect(planned(loaded, query.filter)).toEqual({ ids: mingoIds(loaded, query.filter), residual: 0 });
    // Removed and re-added blocks (a rescheduled appointment) move in the actor's tree.
    const moved = appointmentWrite('overlaps', ['Practitioner/h'], hi + 60 * MINUTE, hi + 90 * MINUTE);
    const old = loaded.entries.get('overlaps');
    if (old === undefined) throw new Error('overlaps not loaded');
    loaded.indexes.remove(old, JSON.parse(old.searchJson));
    const entry: Entry = { ...old, searchJson: JSON.stringify(moved.s), ranges: loaded.indexes.rangesOf(moved.s) };
    loaded.entries.set('overlaps', entry);
    loaded.indexes.add(entry, moved.s);
    expect([...(planQuery(query.filter, { indexes: loaded.indexes, entry: (id) => loaded.entries.get(id) }).driver ?? [])]).toEqual(['long-before']);
    expect(planned(loaded, query.filter)).toEqual({ ids: ['long-before'], residual: 0 });
  });

  it.each([
    ['all statuses', slotsOverlapping(['Schedule/s1'], lo, hi)],
    ['free only, two schedules', slotsOverlapping(['Schedule/s1', 'Schedule/s2'], lo, hi, ['free'])],
    ['hash $nin', { $and: [{ 's.status': { $nin: ['busy'] } }, { 's.end.lo': { $gt: lo } }] }],
    ['end.hi alone', { 's.end.hi': { $lte: hi } }],
  ])('decides Slot queries exactly, without mingo: %s', (_name, query) => {
    const filter = 'filter' in query ? (query.filter as Record<string, unknown>) : query;
    const result = planned(slots, filter);
    expect(result.residual).toBe(0);
    expect(result.ids).toEqual(mingoIds(slots, filter));
  });

  it('keeps a dotted date clause with two comparisons for mingo (each may hold for a different range)', () => {
    const twoRanges = load('Slot', [
      { ...slotWrite({ id: 'split' }), s: { end: [{ lo: T0, hi: T0 + 1000 }, { lo: T0 + 100 * MINUTE, hi: T0 + 100 * MINUTE + 1000 }] } },
    ]);
    const filter = { 's.end.lo': { $gt: T0 + 50 * MINUTE, $lt: T0 + 10 * MINUTE } };
    expect(planned(twoRanges, filter).residual).toBe(1);
    expect(mingoIds(twoRanges, filter)).toEqual(['split']);
  });

  it('keeps a _block clause with other fields for mingo', () => {
    const filter = { 's._block': { $elemMatch: { a: { $in: ['Practitioner/p'] }, x: 1 } } };
    expect(planned(appointments, filter).residual).toBe(1);
  });

  it('decides the active-Schedule $nin exactly', () => {
    const schedules = load('Schedule', [
      { ...slotWrite({ id: 'a' }), resourceType: 'Schedule', s: { active: ['true'] } },
      { ...slotWrite({ id: 'b' }), resourceType: 'Schedule', s: { active: ['false'] } },
      { ...slotWrite({ id: 'c' }), resourceType: 'Schedule', s: {} },
    ]);
    const result = planned(schedules, activeSchedules().filter);
    expect(result.residual).toBe(0);
    expect(result.ids).toEqual(['a', 'c']);
  });
});
