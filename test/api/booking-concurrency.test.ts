import type { Appointment, Slot } from 'fhir/r4';
import { locationResource, PROCEDURE_ROOM, practitionerResource, scheduleResource } from '../../scripts/demo-clinic';
import { athens, DAY, Harness, iso, MINUTE, slotRefs, T0 } from '../helpers/clinic';
import type { HttpResult } from '../helpers/clinic';

/*
 * Real parallel HTTP requests against the real server (one listening port, fetch), SPEC §4.5: the
 * store serialises or conflict-checks every booking that shares an actor, so exactly one of a
 * racing set wins and the losers write nothing.
 *
 * Dr. A works alone (`sch-a`, 15 minutes) and with room X (`sch-ax`, 15 minutes); Dr. B works with
 * the same room X (`sch-bx`, 15 minutes). No booking policy.
 */

let h: Harness;
const A = 'Practitioner/dr-a';
const B = 'Practitioner/dr-b';
const X = 'Location/room-x';
const WINDOW = { start: iso(T0), end: iso(T0 + 4 * DAY) };

beforeAll(async () => {
  // Four days of Slots: Tuesday to Thursday are bookable all day.
  h = await Harness.start({ SLOT_HORIZON_DAYS: '4' });
  await h.load([
    practitionerResource('dr-a', 'Anagnostou', 'Anna'),
    practitionerResource('dr-b', 'Bakas', 'Vasilis'),
    locationResource('room-x', 'Room X', PROCEDURE_ROOM),
    scheduleResource({ id: 'sch-a', actors: [A], availability: { slotMinutes: 15 } }),
    scheduleResource({ id: 'sch-ax', actors: [A, X], availability: { slotMinutes: 15 } }),
    scheduleResource({ id: 'sch-bx', actors: [B, X], availability: { slotMinutes: 15 } }),
  ]);
});

afterAll(async () => {
  await h.close();
});

function statuses(results: ReadonlyArray<HttpResult<unknown>>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

function proposalOf(slots: ReadonlyArray<Slot & { id: string }>): Appointment {
  return { resourceType: 'Appointment', status: 'proposed', slot: slots.map((s) => ({ reference: `Slot/${s.id}` })), participant: [] };
}

async function slotAt(schedule: string, day: string, local: string): Promise<Slot & { id: string }> {
  const start = athens(day, local);
  const [slot] = (await h.slotsOf(schedule, start, start + MINUTE)).filter((s) => Date.parse(s.start) === start);
  if (slot === undefined) throw new Error(`no Slot of ${schedule} at ${day} ${local}`);
  return slot;
}

/** Active appointments of an actor overlapping [lo, hi). */
async function activeFor(actor: string, lo: number, hi: number): Promise<Appointment[]> {
  const found = await h.search<Appointment>('Appointment', `actor=${actor}&date=lt${iso(hi)}&end=gt${iso(lo)}&status=pending,booked,arrived,checked-in`);
  return found.filter((a) => Date.parse(a.end ?? '') > lo && Date.parse(a.start ?? '') < hi);
}

describe('concurrent bookings over real HTTP', () => {
  it('50 parallel $book of the same proposal: exactly one 201, 49 × 409, one Appointment stored', async () => {
    const proposal = await h.findOne({ ...WINDOW, schedule: 'Schedule/sch-a' });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => h.book({ 'appointment-resource': proposal, 'patient-reference': `Patient/race-${i}` })),
    );
    expect(statuses(results)).toEqual({ 201: 1, 409: 49 });
    for (const loser of results.filter((r) => r.status === 409)) {
      expect(loser.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict' }] });
    }
    expect(await h.count('Appointment', `slot=${slotRefs(proposal)[0] ?? ''}`)).toBe(1);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
  });

  it('50 parallel $book of 50 distinct free times of one practitioner: 50 × 201, no 409', async () => {
    const { proposals, total } = await h.find({ ...WINDOW, schedule: 'Schedule/sch-a', start: iso(athens('03-02', '08:00')), _count: '50' });
    expect(total).toBeGreaterThanOrEqual(50);
    expect(proposals).toHaveLength(50);
    const results = await Promise.all(proposals.map((p, i) => h.book({ 'appointment-resource': p, 'patient-reference': `Patient/distinct-${i}` })));
    expect(statuses(results)).toEqual({ 201: 50 });
    expect(new Set(results.map((r) => r.body.id)).size).toBe(50);
    expect(await h.slotStatuses(proposals.flatMap(slotRefs))).toEqual(Array<string>(50).fill('busy'));
  });

  it('a practitioner in two schedules (alone, and with a room): overlapping bookings through both, exactly one wins', async () => {
    // Ten rounds, each racing the doctor's own Slot against the joint doctor+room Slot at the same time.
    const times = ['08:00', '08:15', '08:30', '08:45', '09:00', '09:15', '09:30', '09:45', '10:00', '10:15'];
    for (const local of times) {
      const [own, joint] = await Promise.all([slotAt('sch-a', '03-04', local), slotAt('sch-ax', '03-04', local)]);
      const results = await Promise.all([
        h.book({ 'appointment-resource': proposalOf([own]) }),
        h.book({ 'appointment-resource': proposalOf([joint]) }),
        h.book({ 'appointment-resource': proposalOf([own]) }),
        h.book({ 'appointment-resource': proposalOf([joint]) }),
      ]);
      expect(statuses(results)).toEqual({ 201: 1, 409: 3 });
      const start = athens('03-04', local);
      expect(await activeFor(A, start, start + 15 * MINUTE)).toHaveLength(1);
    }
  });

  it("a room shared by two doctors' joint schedules: overlapping bookings, exactly one wins", async () => {
    const times = ['11:00', '11:15', '11:30', '11:45', '12:00', '12:15', '12:30', '12:45', '13:00', '13:15'];
    for (const local of times) {
      const [ax, bx] = await Promise.all([slotAt('sch-ax', '03-04', local), slotAt('sch-bx', '03-04', local)]);
      const results = await Promise.all([
        h.book({ 'appointment-resource': proposalOf([ax]) }),
        h.book({ 'appointment-resource': proposalOf([bx]) }),
        h.book({ 'appointment-resource': proposalOf([bx]) }),
      ]);
      expect(statuses(results)).toEqual({ 201: 1, 409: 2 });
      const start = athens('03-04', local);
      expect(await activeFor(X, start, start + 15 * MINUTE)).toHaveLength(1);
    }
  });

  it('a $hold racing a $book of the same Slot: exactly one wins', async () => {
    for (const local of ['14:00', '14:15', '14:30', '14:45', '15:00']) {
      const slot = await slotAt('sch-bx', '03-04', local);
      const [hold, book] = await Promise.all([
        h.hold({ 'appointment-resource': proposalOf([slot]) }),
        h.book({ 'appointment-resource': proposalOf([slot]) }),
      ]);
      expect([hold.status, book.status].sort()).toEqual([201, 409]);
      const expected = hold.status === 201 ? 'busy-tentative' : 'busy';
      expect(await h.slotStatuses([`Slot/${slot.id}`])).toEqual([expected]);
      expect(await h.count('Appointment', `slot=Slot/${slot.id}`)).toBe(1);
    }
  });

  it('a $reschedule racing a $book of its new time: one wins; when the book wins the old appointment is intact', async () => {
    let rescheduleWins = 0;
    let bookWins = 0;
    for (const [from, to] of [
      ['08:00', '16:00'],
      ['08:15', '16:15'],
      ['08:30', '16:30'],
      ['08:45', '16:45'],
    ] as const) {
      const old = await slotAt('sch-bx', '03-03', from);
      const target = await slotAt('sch-bx', '03-03', to);
      const booked = await h.book({ 'appointment-resource': proposalOf([old]) });
      expect(booked.status).toBe(201);
      const [moved, competitor] = await Promise.all([
        h.post(`Appointment/${booked.body.id}/$reschedule`, { resourceType: 'Parameters', parameter: [{ name: 'appointment-resource', resource: proposalOf([target]) }] }),
        h.book({ 'appointment-resource': proposalOf([target]) }),
      ]);
      expect([moved.status, competitor.status].sort()).toEqual([200, 409].sort());
      const current = await h.read<Appointment>(`Appointment/${booked.body.id}`);
      if (moved.status === 200) {
        rescheduleWins++;
        expect(current.start).toBe(target.start);
        expect(await h.slotStatuses([`Slot/${old.id}`, `Slot/${target.id}`])).toEqual(['free', 'busy']);
      } else {
        bookWins++;
        expect(current).toEqual(booked.body);
        expect(await h.slotStatuses([`Slot/${old.id}`, `Slot/${target.id}`])).toEqual(['busy', 'busy']);
      }
      expect(await h.count('Appointment', `slot=Slot/${target.id}&status=booked`)).toBe(1);
    }
    expect(rescheduleWins + bookWins).toBe(4);
  });
});
