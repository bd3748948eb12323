import type { Appointment } from 'fhir/r4';
import { athens, DAY, Harness, iso, outcomeOf, ref, slotRefs, startClinic, T0 } from '../helpers/clinic';
import type { HttpResult } from '../helpers/clinic';

let h: Harness;
const WINDOW = { start: iso(T0), end: iso(T0 + 3 * DAY) };

beforeAll(async () => {
  h = await startClinic();
});

afterAll(async () => {
  await h.close();
});

async function bookAt(practitioner: string, local: string, values: Record<string, string> = {}): Promise<Appointment & { id: string }> {
  const proposal = await h.findOne({ ...WINDOW, practitioner, start: iso(athens('03-02', local)), ...values });
  expect(proposal.start).toBe(`2027-03-02T${local}:00+02:00`);
  const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/resched' });
  expect(res.status).toBe(201);
  return res.body;
}

function reschedule(id: string, parameter: unknown[], headers?: Record<string, string>): Promise<HttpResult> {
  return h.post(`Appointment/${id}/$reschedule`, { resourceType: 'Parameters', parameter }, headers);
}

describe('$reschedule', () => {
  it('moves an appointment to a $find proposal atomically, keeping its id', async () => {
    const a = await bookAt(ref.doctor('papadopoulou'), '09:00');
    const next = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou'), start: iso(athens('03-03', '10:00')) });
    const res = await reschedule(a.id, [{ name: 'appointment-resource', resource: next }]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: a.id,
      status: 'booked',
      start: '2027-03-03T10:00:00+02:00',
      end: '2027-03-03T10:15:00+02:00',
      slot: next.slot,
      meta: { versionId: '2' },
    });
    expect(res.body['participant']).toContainEqual({ actor: { reference: 'Patient/resched' }, required: 'required', status: 'accepted' });
    expect(await h.slotStatuses(slotRefs(a))).toEqual(['free']);
    expect(await h.slotStatuses(slotRefs(next))).toEqual(['busy']);
    expect((await h.auditEvents(`Appointment/${a.id}`)).map((e) => e.subtype?.[0]?.code).sort()).toEqual(['book', 'reschedule']);
  });

  it('moves to a new start and end on the same schedule', async () => {
    const a = await bookAt(ref.doctor('georgiou'), '09:00', { service: ref.service('fullPhysical') });
    const res = await reschedule(a.id, [
      { name: 'start', valueInstant: '2027-03-03T11:00:00+02:00' },
      { name: 'end', valueInstant: '2027-03-03T12:00:00+02:00' },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.id, start: '2027-03-03T11:00:00+02:00', end: '2027-03-03T12:00:00+02:00', minutesDuration: 60 });
    const moved = res.body as unknown as Appointment;
    expect(slotRefs(moved)).toHaveLength(4);
    expect(await h.slotStatuses(slotRefs(moved))).toEqual(['busy', 'busy', 'busy', 'busy']);
    expect(await h.slotStatuses(slotRefs(a))).toEqual(['free', 'free', 'free', 'free']);
  });

  it('may overlap its own old time', async () => {
    const a = await bookAt(ref.doctor('georgiou'), '13:00', { service: ref.service('fullPhysical') });
    const res = await reschedule(a.id, [
      { name: 'start', valueInstant: '2027-03-02T13:30:00+02:00' },
      { name: 'end', valueInstant: '2027-03-02T14:30:00+02:00' },
    ]);
    expect(res.status).toBe(200);
    const statuses = await h.slotStatuses(slotRefs(a));
    expect(statuses).toEqual(['free', 'free', 'busy', 'busy']);
  });

  it('leaves the appointment and every Slot unchanged when the new time is taken (409)', async () => {
    const a = await bookAt(ref.doctor('nikolaou'), '09:00');
    const b = await bookAt(ref.doctor('nikolaou'), '10:00');
    const before = { a: await h.read<Appointment>(`Appointment/${a.id}`), slots: await h.slotStatuses([...slotRefs(a), ...slotRefs(b)]) };
    const res = await reschedule(a.id, [{ name: 'appointment-resource', resource: { ...b, id: undefined, meta: undefined, status: 'proposed' } }]);
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', `${slotRefs(b)[0] ?? ''} is not free`));
    const byTime = await reschedule(a.id, [
      { name: 'start', valueInstant: '2027-03-02T10:00:00+02:00' },
      { name: 'end', valueInstant: '2027-03-02T10:15:00+02:00' },
    ]);
    expect(byTime.status).toBe(409);
    expect(byTime.body).toEqual(outcomeOf('conflict', 'has no free Slots covering'));
    expect(await h.read<Appointment>(`Appointment/${a.id}`)).toEqual(before.a);
    expect(await h.slotStatuses([...slotRefs(a), ...slotRefs(b)])).toEqual(before.slots);
  });

  it('refuses to reschedule a cancelled appointment (422) and an unknown one (404)', async () => {
    const a = await bookAt(ref.doctor('alexiou'), '09:00');
    expect((await h.call('PATCH', `Appointment/${a.id}`, [{ op: 'replace', path: '/status', value: 'cancelled' }])).status).toBe(200);
    const res = await reschedule(a.id, [
      { name: 'start', valueInstant: '2027-03-03T09:00:00+02:00' },
      { name: 'end', valueInstant: '2027-03-03T09:15:00+02:00' },
    ]);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcomeOf('business-rule', 'is cancelled and cannot be rescheduled'));
    const unknown = await reschedule('no-such-appointment', [{ name: 'start', valueInstant: '2027-03-03T09:00:00+02:00' }]);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual(outcomeOf('not-found', 'Appointment/no-such-appointment'));
    const garbage = await reschedule(a.id, [{ name: 'start', valueString: 'next tuesday' }]);
    expect(garbage.status).toBe(400);
    expect(garbage.body).toEqual(outcomeOf('value', 'start must be an instant'));
  });

  it('applies the booking policy to the new time (422 inside the minimum notice)', async () => {
    const a = await bookAt(ref.doctor('alexiou'), '11:00');
    const res = await reschedule(a.id, [
      { name: 'start', valueInstant: '2027-03-01T15:00:00+02:00' },
      { name: 'end', valueInstant: '2027-03-01T15:15:00+02:00' },
    ]);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcomeOf('business-rule', 'minNoticeMinutes'));
    expect((await h.read<Appointment>(`Appointment/${a.id}`)).start).toBe('2027-03-02T11:00:00+02:00');
  });
});
