import type { Appointment, AuditEvent } from 'fhir/r4';
import { practitionerResource, scheduleResource } from '../../scripts/demo-clinic';
import { actorRefs, athens, DAY, Harness, iso, outcomeOf, ref, slotRefs, startClinic, T0 } from '../helpers/clinic';

let h: Harness;
const WINDOW = { start: iso(T0), end: iso(T0 + 3 * DAY) };

beforeAll(async () => {
  h = await startClinic();
  await h.load([
    practitionerResource('dr-confirm', 'Confirm', 'Carla'),
    scheduleResource({ id: 'sch-confirm', actors: ['Practitioner/dr-confirm'], policy: { autoConfirm: false } }),
    // Dr. Georgiou also works a second schedule (e.g. another clinic's), with no policy.
    scheduleResource({ id: 'sch-georgiou-2', actors: [ref.doctor('georgiou')], availability: { slotMinutes: 30 } }),
  ]);
});

afterAll(async () => {
  await h.close();
});

async function snapshot(refs: readonly string[]): Promise<{ statuses: string[]; appointments: number }> {
  return { statuses: await h.slotStatuses(refs), appointments: await h.count('Appointment') };
}

describe('$book', () => {
  it('books a $find proposal: 201, booked, participants accepted, patient and comment, Slots busy', async () => {
    const proposal = await h.findOne({ ...WINDOW, service: ref.service('checkup'), practitioner: ref.doctor('papadopoulou') });
    const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/pat-1', comment: 'Bring previous results' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`${h.t.config.baseUrl}/Appointment/${res.body.id}/_history/1`);
    expect(res.body).toMatchObject({
      resourceType: 'Appointment',
      status: 'booked',
      start: proposal.start,
      end: proposal.end,
      minutesDuration: 15,
      slot: proposal.slot,
      comment: 'Bring previous results',
      serviceType: proposal.serviceType,
      participant: [
        { actor: { reference: ref.doctor('papadopoulou') }, required: 'required', status: 'accepted' },
        { actor: { reference: 'Patient/pat-1' }, required: 'required', status: 'accepted' },
      ],
    });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
    const stored = await h.read<Appointment>(`Appointment/${res.body.id}`);
    expect(stored).toEqual(res.body);
  });

  it('returns 409 naming the Slot and writes nothing when the Slot is already taken', async () => {
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('nikolaou') });
    expect((await h.book({ 'appointment-resource': proposal })).status).toBe(201);
    const before = await snapshot(slotRefs(proposal));
    const again = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/pat-2' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual(outcomeOf('conflict', `${slotRefs(proposal)[0] ?? ''} is not free (status busy)`));
    expect(await snapshot(slotRefs(proposal))).toEqual(before);
    expect(await h.search('Appointment', 'patient=Patient/pat-2')).toEqual([]);
  });

  it('returns 409 naming the actor when the practitioner is booked at that time through another schedule', async () => {
    const first = await h.findOne({ ...WINDOW, schedule: 'Schedule/sch-georgiou-2', start: iso(athens('03-03', '10:00')) });
    expect(first.start).toBe('2027-03-03T10:00:00+02:00');
    const booked = await h.book({ 'appointment-resource': first });
    expect(booked.status).toBe(201);
    // The clinic schedule's 10:15 Slot was free when this proposal was made; build it by hand.
    const [clinicSlot] = await h.slotsOf('sch-dr-georgiou', athens('03-03', '10:15'), athens('03-03', '10:30'));
    expect(clinicSlot?.status).toBe('busy');
    const proposal: Appointment = {
      resourceType: 'Appointment',
      status: 'proposed',
      start: clinicSlot?.start ?? '',
      end: clinicSlot?.end ?? '',
      slot: [{ reference: `Slot/${clinicSlot?.id ?? ''}` }],
      participant: [{ actor: { reference: ref.doctor('georgiou') }, status: 'needs-action' }],
    };
    const before = await h.count('Appointment');
    const conflict = await h.book({ 'appointment-resource': proposal });
    expect(conflict.status).toBe(409);
    expect(conflict.body).toEqual(outcomeOf('conflict', 'is not free'));
    // Without the Slot, the time itself is checked: the practitioner is taken.
    const { slot: _slot, ...timeOnly } = proposal;
    const byTime = await h.book({ 'appointment-resource': timeOnly });
    expect(byTime.status).toBe(409);
    expect(byTime.body).toEqual(outcomeOf('conflict', `${ref.doctor('georgiou')} is already booked from`));
    expect(await h.count('Appointment')).toBe(before);
  });

  it('yields pending when the schedule policy says autoConfirm false, and staff confirm it', async () => {
    const proposal = await h.findOne({ ...WINDOW, practitioner: 'Practitioner/dr-confirm' });
    const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/pat-3' });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('pending');
    // Not a hold: it does not expire.
    expect(res.body.extension ?? []).toEqual([]);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy-tentative']);
    const confirmed = await h.put(`Appointment/${res.body.id}`, { ...res.body, status: 'booked' });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'booked', meta: { versionId: '2' } });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
  });

  it('refuses a booking inside the minimum notice with 422 and writes nothing', async () => {
    const [slot] = await h.slotsOf('sch-dr-nikolaou', athens('03-01', '15:00'), athens('03-01', '15:15'));
    const proposal: Appointment = {
      resourceType: 'Appointment',
      status: 'proposed',
      slot: [{ reference: `Slot/${slot?.id ?? ''}` }],
      participant: [{ actor: { reference: ref.doctor('nikolaou') }, status: 'needs-action' }],
    };
    const before = await snapshot(slotRefs(proposal));
    const res = await h.book({ 'appointment-resource': proposal });
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcomeOf('business-rule', 'Bookings must start at least 1440 minutes ahead (minNoticeMinutes)'));
    expect(await snapshot(slotRefs(proposal))).toEqual(before);
    expect(before.statuses).toEqual(['free']);
  });

  it('accepts it with an override-reason from staff and audits the override', async () => {
    const [slot] = await h.slotsOf('sch-dr-nikolaou', athens('03-01', '15:00'), athens('03-01', '15:15'));
    const proposal: Appointment = {
      resourceType: 'Appointment',
      status: 'proposed',
      slot: [{ reference: `Slot/${slot?.id ?? ''}` }],
      participant: [{ actor: { reference: ref.doctor('nikolaou') }, status: 'needs-action' }],
    };
    const res = await h.book({ 'appointment-resource': proposal, 'override-reason': 'Urgent: chest pain' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'booked', start: slot?.start, end: slot?.end });
    const [audit] = await h.auditEvents(`Appointment/${res.body.id}`);
    expect(audit).toMatchObject<Partial<AuditEvent>>({
      subtype: [{ system: expect.any(String), code: 'override' }],
      outcome: '0',
      agent: [expect.objectContaining({ altId: 'anonymous' })],
      entity: expect.arrayContaining([expect.objectContaining({ detail: [{ type: 'override-reason', valueString: 'Urgent: chest pain' }] })]),
    });
  });

  it('refuses a booking past the booking window', async () => {
    const proposal: Appointment = {
      resourceType: 'Appointment',
      status: 'proposed',
      participant: [{ actor: { reference: ref.doctor('nikolaou') }, status: 'needs-action' }],
    };
    const [slot] = await h.slotsOf('sch-dr-nikolaou', athens('03-03', '09:00'), athens('03-03', '09:15'));
    const clock = h.clock.now;
    // Seen from 31 days earlier, Wednesday is past the 30-day window.
    h.clock.now = T0 - 29 * DAY;
    try {
      const res = await h.book({ 'appointment-resource': { ...proposal, slot: [{ reference: `Slot/${slot?.id ?? ''}` }] } as Appointment });
      expect(res.status).toBe(422);
      expect(res.body).toEqual(outcomeOf('business-rule', 'Bookings may start at most 30 days ahead (bookingWindowDays)'));
    } finally {
      h.clock.now = clock;
    }
    expect(await h.slotStatuses([`Slot/${slot?.id ?? ''}`])).toEqual(['free']);
  });

  it('returns 409 for a proposal naming a Slot that does not exist, and 400 without a proposal', async () => {
    const res = await h.book({
      'appointment-resource': { resourceType: 'Appointment', status: 'proposed', slot: [{ reference: 'Slot/nope' }], participant: [] } as Appointment,
    });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', 'Slot/nope does not exist'));
    const none = await h.post('Appointment/$book', { resourceType: 'Parameters', parameter: [{ name: 'comment', valueString: 'x' }] });
    expect(none.status).toBe(400);
    expect(none.body).toEqual(outcomeOf('required', 'appointment-resource or appointment-reference'));
  });

  it('books a minor procedure with the doctor and the procedure room, both Slots busy', async () => {
    const proposal = await h.findOne({ ...WINDOW, service: ref.service('minorProcedure'), start: iso(athens('03-03', '13:00')) });
    const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/pat-4' });
    expect(res.status).toBe(201);
    expect(actorRefs(res.body)).toEqual([...actorRefs(proposal), 'Patient/pat-4']);
    expect(actorRefs(res.body)).toContain(ref.room('procedure'));
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(Array<string>(6).fill('busy'));
  });
});

describe('$book with cancelled-appointment-reference (reschedule)', () => {
  it('cancels the old appointment and books the new one in one step', async () => {
    const old = await h.book({ 'appointment-resource': await h.findOne({ ...WINDOW, practitioner: ref.doctor('alexiou') }) });
    expect(old.status).toBe(201);
    const next = await h.findOne({ ...WINDOW, practitioner: ref.doctor('alexiou'), start: iso(athens('03-03', '11:00')) });
    const res = await h.book({ 'appointment-resource': next, 'cancelled-appointment-reference': `Appointment/${old.body.id}` });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'booked', start: '2027-03-03T11:00:00+02:00' });
    expect(await h.read<Appointment>(`Appointment/${old.body.id}`)).toMatchObject({ status: 'cancelled', cancelationReason: { text: 'rescheduled' } });
    expect(await h.slotStatuses(slotRefs(old.body))).toEqual(['free']);
    expect(await h.slotStatuses(slotRefs(next))).toEqual(['busy']);
  });

  it('leaves the old appointment intact when the new time is taken', async () => {
    const old = await h.book({ 'appointment-resource': await h.findOne({ ...WINDOW, practitioner: ref.doctor('alexiou') }) });
    const taken = await h.findOne({ ...WINDOW, practitioner: ref.doctor('alexiou'), start: iso(athens('03-03', '12:00')) });
    expect((await h.book({ 'appointment-resource': taken })).status).toBe(201);
    const before = await snapshot([...slotRefs(old.body), ...slotRefs(taken)]);
    const res = await h.book({ 'appointment-resource': taken, 'cancelled-appointment-reference': `Appointment/${old.body.id}` });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', 'is not free'));
    expect(await h.read<Appointment>(`Appointment/${old.body.id}`)).toEqual(old.body);
    expect(await snapshot([...slotRefs(old.body), ...slotRefs(taken)])).toEqual(before);
  });
});
