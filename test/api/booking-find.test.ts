import type { Appointment, Bundle, Location, Practitioner, Schedule, Slot } from 'fhir/r4';
import { CLINIC, DEMO_ROOM_TYPE_SYSTEM, practitionerResource, scheduleResource } from '../../scripts/demo-clinic';
import { actorRefs, athens, DAY, Harness, iso, MINUTE, outcomeOf, ref, slotRefs, startClinic, T0 } from '../helpers/clinic';

let h: Harness;
const WINDOW = { start: iso(T0), end: iso(T0 + 3 * DAY) };

beforeAll(async () => {
  h = await startClinic();
});

afterAll(async () => {
  await h.close();
});

function starts(proposals: readonly Appointment[]): number[] {
  return proposals.map((p) => Date.parse(p.start ?? ''));
}

describe('$find', () => {
  it('proposes free times earliest first, with the total of all matches and _count paging', async () => {
    const all = await h.find({ ...WINDOW, service: ref.service('checkup'), _count: '1000' });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    // Two GPs, Tue and Wed 08:00–17:00 in 15-minute Slots (Monday is inside the 24 h minimum notice).
    expect(all.total).toBe(2 * 2 * 36);
    expect(all.proposals).toHaveLength(144);
    const times = starts(all.proposals);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBe(athens('03-02', '08:00'));
    const page = await h.find({ ...WINDOW, service: ref.service('checkup'), _count: '5' });
    expect(page.total).toBe(144);
    expect(page.proposals).toHaveLength(5);
    expect(page.proposals.map((p) => p.start)).toEqual(all.proposals.slice(0, 5).map((p) => p.start));
    const next = await h.find({ ...WINDOW, service: ref.service('checkup'), _count: '5', _offset: '5' });
    expect(next.proposals.map((p) => p.start)).toEqual(all.proposals.slice(5, 10).map((p) => p.start));
  });

  it('returns proposed Appointments with time, Slots, participants, serviceType and specialty', async () => {
    const first = await h.findOne({ ...WINDOW, service: ref.service('checkup'), practitioner: ref.doctor('georgiou') });
    expect(first).toEqual({
      resourceType: 'Appointment',
      status: 'proposed',
      start: '2027-03-02T08:00:00+02:00',
      end: '2027-03-02T08:15:00+02:00',
      minutesDuration: 15,
      slot: [{ reference: expect.stringMatching(/^Slot\//) }],
      participant: [{ actor: { reference: ref.doctor('georgiou') }, required: 'required', status: 'needs-action' }],
      serviceType: [{ coding: [expect.objectContaining({ code: 'checkup' })] }],
      specialty: [{ coding: [expect.objectContaining({ code: '394802001' })] }],
    });
    const slot = await h.read<Slot>(slotRefs(first)[0] ?? '');
    expect(slot).toMatchObject({ status: 'free', schedule: { reference: ref.schedule('georgiou') } });
    expect(Date.parse(slot.start)).toBe(athens('03-02', '08:00'));
  });

  it('offers nothing inside the minimum notice although free Slots exist there', async () => {
    const monday = await h.slotsOf(CLINIC.schedules.georgiou, T0, T0 + 9 * 60 * MINUTE);
    expect(monday.length).toBe(36);
    expect(monday.every((s) => s.status === 'free')).toBe(true);
    const found = await h.find({ start: iso(T0), end: iso(T0 + DAY), practitioner: ref.doctor('georgiou') });
    expect(found.total).toBe(0);
    expect(found.proposals).toEqual([]);
  });

  it('filters by practitioner, schedule, specialty and visit-type', async () => {
    const byPractitioner = await h.find({ ...WINDOW, practitioner: ref.doctor('nikolaou'), _count: '1000' });
    expect(byPractitioner.total).toBe(72);
    expect(new Set(byPractitioner.proposals.flatMap(actorRefs))).toEqual(new Set([ref.doctor('nikolaou')]));

    const bySchedule = await h.find({ ...WINDOW, schedule: ref.schedule('alexiou'), _count: '1000' });
    expect(new Set(bySchedule.proposals.flatMap(actorRefs))).toEqual(new Set([ref.doctor('alexiou')]));

    const bySpecialty = await h.find({ ...WINDOW, specialty: 'http://snomed.info/sct|394579002', _count: '1000' });
    expect(bySpecialty.total).toBe(144);
    expect(new Set(bySpecialty.proposals.flatMap(actorRefs))).toEqual(new Set([ref.doctor('nikolaou'), ref.doctor('alexiou')]));

    const byVisitType = await h.find({ ...WINDOW, 'visit-type': 'https://kairos.dev/fhir/CodeSystem/demo-service|full-physical', _count: '1000' });
    expect(new Set(byVisitType.proposals.flatMap(actorRefs))).toEqual(new Set([ref.doctor('papadopoulou'), ref.doctor('georgiou')]));
  });

  it('answers GET with query parameters like POST', async () => {
    const q = new URLSearchParams({ start: WINDOW.start, end: WINDOW.end, practitioner: ref.doctor('nikolaou'), _count: '2' });
    const res = await h.get<Bundle>(`Appointment/$find?${q.toString()}`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(72);
    expect(res.body.entry?.map((e) => (e.resource as Appointment).start)).toEqual(['2027-03-02T08:00:00+02:00', '2027-03-02T08:15:00+02:00']);
  });

  it('uses consecutive Slots of one schedule for a service longer than a Slot, starting at every Slot boundary', async () => {
    const found = await h.find({ ...WINDOW, service: ref.service('fullPhysical'), practitioner: ref.doctor('papadopoulou'), _count: '1000' });
    // 36 starts a day minus the last three (a 60-minute visit must end by 17:00).
    expect(found.total).toBe(2 * 33);
    const [first, second] = found.proposals;
    expect(first).toMatchObject({ start: '2027-03-02T08:00:00+02:00', end: '2027-03-02T09:00:00+02:00', minutesDuration: 60 });
    expect(second).toMatchObject({ start: '2027-03-02T08:15:00+02:00', end: '2027-03-02T09:15:00+02:00' });
    expect(slotRefs(first ?? { resourceType: 'Appointment', status: 'proposed', participant: [] })).toHaveLength(4);
    const tuesday = found.proposals.filter((p) => (p.start ?? '').startsWith('2027-03-02'));
    expect(tuesday.at(-1)).toMatchObject({ start: '2027-03-02T16:00:00+02:00', end: '2027-03-02T17:00:00+02:00' });
  });

  it('takes an explicit duration in minutes', async () => {
    const first = await h.findOne({ ...WINDOW, practitioner: ref.doctor('nikolaou'), duration: '30' });
    expect(first).toMatchObject({ start: '2027-03-02T08:00:00+02:00', end: '2027-03-02T08:30:00+02:00', minutesDuration: 30 });
    expect(slotRefs(first)).toHaveLength(2);
  });

  it("pairs the doctor's time with a free room of the service's required type for the whole time", async () => {
    const first = await h.findOne({ ...WINDOW, service: ref.service('minorProcedure'), practitioner: ref.doctor('georgiou') });
    expect(first).toMatchObject({ start: '2027-03-02T08:00:00+02:00', end: '2027-03-02T08:45:00+02:00', minutesDuration: 45 });
    expect(actorRefs(first)).toEqual([ref.doctor('georgiou'), ref.room('procedure')]);
    const slots = await Promise.all(slotRefs(first).map((r) => h.read<Slot>(r)));
    expect(slots.map((s) => s.schedule.reference ?? '')).toEqual([
      ...Array<string>(3).fill(ref.schedule('georgiou')),
      ...Array<string>(3).fill(ref.schedule('procedureRoom')),
    ]);
  });

  it('pairs with a room for location-type without a service', async () => {
    const first = await h.findOne({ ...WINDOW, practitioner: ref.doctor('nikolaou'), 'location-type': `${DEMO_ROOM_TYPE_SYSTEM}|procedure-room`, duration: '30' });
    expect(actorRefs(first)).toEqual([ref.doctor('nikolaou'), ref.room('procedure')]);
    expect(slotRefs(first)).toHaveLength(4);
    const none = await h.find({ ...WINDOW, practitioner: ref.doctor('nikolaou'), 'location-type': `${DEMO_ROOM_TYPE_SYSTEM}|operating-theatre` });
    expect(none.total).toBe(0);
  });

  it('filters by location-reference: only schedules of that Location', async () => {
    const found = await h.find({ ...WINDOW, 'location-reference': ref.room('procedure'), _count: '3' });
    expect(found.total).toBe(72);
    expect(found.proposals.map(actorRefs)).toEqual([[ref.room('procedure')], [ref.room('procedure')], [ref.room('procedure')]]);
  });

  it('rejects a window longer than 31 days and a missing start with 400', async () => {
    const long = await h.post('Appointment/$find', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'start', valueDateTime: iso(T0) },
        { name: 'end', valueDateTime: iso(T0 + 32 * DAY) },
      ],
    });
    expect(long.status).toBe(400);
    expect(long.body).toEqual(outcomeOf('too-costly', '31 days'));
    const missing = await h.post('Appointment/$find', { resourceType: 'Parameters', parameter: [{ name: 'end', valueDateTime: iso(T0) }] });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual(outcomeOf('required', 'start'));
  });
});

describe('$find after bookings and changes', () => {
  it('no longer offers a booked time, nor the booked room to another doctor', async () => {
    const procedure = await h.findOne({ ...WINDOW, service: ref.service('minorProcedure'), practitioner: ref.doctor('georgiou') });
    const booked = await h.book({ 'appointment-resource': procedure, 'patient-reference': 'Patient/find-1' });
    expect(booked.status).toBe(201);
    const georgiou = await h.findOne({ ...WINDOW, service: ref.service('checkup'), practitioner: ref.doctor('georgiou') });
    expect(georgiou.start).toBe('2027-03-02T08:45:00+02:00');
    // Dr. Papadopoulou is free at 08:00, but the procedure room is not until 08:45.
    const checkup = await h.findOne({ ...WINDOW, service: ref.service('checkup'), practitioner: ref.doctor('papadopoulou') });
    expect(checkup.start).toBe('2027-03-02T08:00:00+02:00');
    const other = await h.findOne({ ...WINDOW, service: ref.service('minorProcedure'), practitioner: ref.doctor('papadopoulou') });
    expect(other.start).toBe('2027-03-02T08:45:00+02:00');
  });

  it('skips times the patient is already booked (patient-reference) and lists the patient', async () => {
    const first = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou'), 'patient-reference': 'Patient/find-1' });
    expect(first.start).toBe('2027-03-02T08:45:00+02:00');
    expect(first.participant).toContainEqual({ actor: { reference: 'Patient/find-1' }, required: 'required', status: 'needs-action' });
    const someoneElse = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou'), 'patient-reference': 'Patient/find-2' });
    expect(someoneElse.start).toBe('2027-03-02T08:00:00+02:00');
  });

  it('offers nothing for an inactive Practitioner although the schedule still has free Slots', async () => {
    const doctor = await h.read<Practitioner & { id: string }>(ref.doctor('alexiou'));
    expect((await h.put(`Practitioner/${doctor.id}`, { ...doctor, active: false })).status).toBe(200);
    const found = await h.find({ ...WINDOW, practitioner: ref.doctor('alexiou') });
    expect(found.total).toBe(0);
    const free = await h.search('Slot', `schedule=${ref.schedule('alexiou')}&status=free`);
    expect(free.length).toBeGreaterThan(0);
    const cardiology = await h.find({ ...WINDOW, service: ref.service('cardiologyConsult'), _count: '1000' });
    expect(new Set(cardiology.proposals.flatMap(actorRefs))).toEqual(new Set([ref.doctor('nikolaou')]));
  });

  it('offers nothing for an inactive Schedule', async () => {
    const schedule = await h.read<Schedule & { id: string }>(ref.schedule('nikolaou'));
    expect((await h.put(`Schedule/${schedule.id}`, { ...schedule, active: false })).status).toBe(200);
    const found = await h.find({ ...WINDOW, practitioner: ref.doctor('nikolaou') });
    expect(found.total).toBe(0);
  });

  it('offers no room-bound service while the only room of that type is inactive', async () => {
    const room = await h.read<Location & { id: string }>(ref.room('procedure'));
    expect((await h.put(`Location/${room.id}`, { ...room, status: 'inactive' })).status).toBe(200);
    try {
      expect((await h.find({ ...WINDOW, service: ref.service('minorProcedure') })).total).toBe(0);
      expect((await h.find({ ...WINDOW, 'location-reference': ref.room('procedure') })).total).toBe(0);
    } finally {
      expect((await h.put(`Location/${room.id}`, room)).status).toBe(200);
    }
    expect((await h.find({ ...WINDOW, service: ref.service('minorProcedure') })).total).toBeGreaterThan(0);
  });

  it('offers nothing past the booking window', async () => {
    await h.load([
      practitionerResource('dr-window', 'Window', 'Wendy'),
      scheduleResource({ id: 'sch-window', actors: ['Practitioner/dr-window'], availability: { slotMinutes: 30 }, policy: { bookingWindowDays: 1 } }),
    ]);
    const found = await h.find({ ...WINDOW, practitioner: 'Practitioner/dr-window', _count: '1000' });
    // Monday from now (08:00) to 17:00, and Tuesday up to 08:00 (now + 1 day): Tuesday 08:00 itself is the limit.
    const times = starts(found.proposals);
    expect(times[0]).toBe(T0);
    expect(Math.max(...times)).toBeLessThanOrEqual(T0 + DAY);
    expect(found.total).toBe(18 + 1);
  });
});
