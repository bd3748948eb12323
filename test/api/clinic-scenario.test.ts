import type { Appointment, AuditEvent, Practitioner } from 'fhir/r4';
import { CLINIC } from '../../scripts/demo-clinic';
import { loadDemoClinic } from '../../scripts/load-demo-clinic';
import { actorRefs, athens, DAY, Harness, iso, outcomeOf, ref, slotRefs, T0 } from '../helpers/clinic';
import type { HttpResult } from '../helpers/clinic';

/*
 * The clinic users describe (issue "Booking engine"), end to end over HTTP, loaded by the demo
 * loader itself. "Now" is Monday 2027-03-01 08:00 in Athens; the clinic takes bookings from 24 h
 * ahead up to 30 days ahead.
 */

let h: Harness;
const WEEK = { start: iso(T0), end: iso(T0 + 7 * DAY) };

beforeAll(async () => {
  h = await Harness.start({ SLOT_HORIZON_DAYS: '8' });
});

afterAll(async () => {
  await h.close();
});

async function createPatient(family: string): Promise<string> {
  const res = await h.post('Patient', { resourceType: 'Patient', name: [{ family, given: ['Demo'] }] });
  expect(res.status).toBe(201);
  return `Patient/${String(res.body['id'])}`;
}

function setStatus(id: string, status: string, headers?: Record<string, string>): Promise<HttpResult> {
  return h.call('PATCH', `Appointment/${id}`, [{ op: 'replace', path: '/status', value: status }], headers);
}

/** Local (Athens) weekday and time of an instant, e.g. "Tue 08:00". */
function local(instant: string | undefined): string {
  const t = new Date(Date.parse(instant ?? '') + 2 * 3600_000);
  return `${['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][t.getUTCDay()] ?? '?'} ${t.toISOString().slice(11, 16)}`;
}

describe('the demo clinic, end to end', () => {
  let maria: string;
  let nikos: string;
  let checkup: Appointment & { id: string };

  it('is loaded by the demo loader, which can run twice', async () => {
    const first = await loadDemoClinic(h.base);
    // Organization, 3 rooms, 4 doctors with their roles, 4 services, 5 schedules.
    expect(first.written).toHaveLength(21);
    expect(first.freeSlots).toBeGreaterThan(0);
    const again = await loadDemoClinic(h.base);
    expect(again.freeSlots).toBe(first.freeSlots);
    expect(await h.count('Schedule')).toBe(5);
    maria = await createPatient('Ioannou');
    nikos = await createPatient('Dimitriou');
  });

  it('offers weekday times only: Mon–Thu 08:00–17:00, Fri 08:00–14:00, nothing at the weekend', async () => {
    const { proposals } = await h.find({ ...WEEK, service: ref.service('checkup'), practitioner: ref.doctor('papadopoulou'), _count: '1000' });
    const days = new Map<string, string[]>();
    for (const p of proposals) {
      const [day = '', time = ''] = local(p.start).split(' ');
      days.set(day, [...(days.get(day) ?? []), time]);
    }
    // Monday is inside the 24 h notice; next Monday starts at the end of the requested week.
    expect([...days.keys()]).toEqual(['Tue', 'Wed', 'Thu', 'Fri']);
    expect(days.get('Tue')?.[0]).toBe('08:00');
    expect(days.get('Tue')?.at(-1)).toBe('16:45');
    expect(days.get('Fri')?.at(-1)).toBe('13:45');
    expect(days.get('Tue')).toHaveLength(36);
    expect(days.get('Fri')).toHaveLength(24);
  });

  it('finds and books a checkup', async () => {
    const proposal = await h.findOne({ ...WEEK, service: ref.service('checkup'), 'patient-reference': maria, start: iso(athens('03-02', '09:00')) });
    expect(proposal).toMatchObject({ start: '2027-03-02T09:00:00+02:00', end: '2027-03-02T09:15:00+02:00', minutesDuration: 15 });
    const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': maria, comment: 'annual checkup' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'booked', start: proposal.start, serviceType: [{ coding: [expect.objectContaining({ code: 'checkup' })] }] });
    expect(await h.slotStatuses(slotRefs(res.body))).toEqual(['busy']);
    checkup = res.body;
  });

  it('books a minor procedure that gets a doctor and the procedure room', async () => {
    const proposal = await h.findOne({ ...WEEK, service: ref.service('minorProcedure'), 'patient-reference': maria });
    // Maria's checkup is at 09:00 with one of the GPs; the first 45-minute procedure is 08:00.
    expect(proposal).toMatchObject({ start: '2027-03-02T08:00:00+02:00', end: '2027-03-02T08:45:00+02:00', minutesDuration: 45 });
    const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': maria });
    expect(res.status).toBe(201);
    const actors = actorRefs(res.body);
    expect(actors).toContain(ref.room('procedure'));
    expect(actors).toContain(maria);
    expect(actors.filter((a) => a.startsWith('Practitioner/'))).toHaveLength(1);
    expect(await h.slotStatuses(slotRefs(res.body))).toEqual(Array<string>(6).fill('busy'));
    // The room is now taken for another procedure at 08:00, whoever the doctor.
    const next = await h.findOne({ ...WEEK, service: ref.service('minorProcedure') });
    expect(next.start).toBe('2027-03-02T08:45:00+02:00');
  });

  it('cancels another appointment: its Slots are free and offered again', async () => {
    const proposal = await h.findOne({ ...WEEK, service: ref.service('cardiologyConsult'), start: iso(athens('03-03', '10:00')) });
    const booked = await h.book({ 'appointment-resource': proposal, 'patient-reference': nikos });
    expect(booked.status).toBe(201);
    expect(booked.body.minutesDuration).toBe(30);
    expect(await h.slotStatuses(slotRefs(booked.body))).toEqual(['busy', 'busy']);
    const cancelled = await h.call('PATCH', `Appointment/${booked.body.id}`, [
      { op: 'replace', path: '/status', value: 'cancelled' },
      { op: 'add', path: '/cancelationReason', value: { text: 'patient travelling' } },
    ]);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancelationReason: { text: 'patient travelling' } });
    expect(await h.slotStatuses(slotRefs(booked.body))).toEqual(['free', 'free']);
    const again = await h.findOne({ ...WEEK, service: ref.service('cardiologyConsult'), start: iso(athens('03-03', '10:00')) });
    expect(again.slot).toEqual(proposal.slot);
  });

  it('refuses a booking inside 24 h, then accepts it as a staff walk-in with an override reason (audited)', async () => {
    const [slot] = await h.slotsOf(CLINIC.schedules.nikolaou, athens('03-01', '15:00'), athens('03-01', '15:30'));
    const walkIn: Appointment = {
      resourceType: 'Appointment',
      status: 'proposed',
      slot: [{ reference: `Slot/${slot?.id ?? ''}` }],
      participant: [{ actor: { reference: ref.doctor('nikolaou') }, status: 'needs-action' }],
    };
    const before = await h.count('Appointment');
    const refused = await h.book({ 'appointment-resource': walkIn, 'patient-reference': nikos });
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual(outcomeOf('business-rule', 'Bookings must start at least 1440 minutes ahead'));
    expect(await h.count('Appointment')).toBe(before);
    const accepted = await h.book({ 'appointment-resource': walkIn, 'patient-reference': nikos, 'override-reason': 'walk-in: acute palpitations' });
    expect(accepted.status).toBe(201);
    expect(accepted.body).toMatchObject({ status: 'booked', start: '2027-03-01T15:00:00+02:00' });
    const [audit] = await h.auditEvents(`Appointment/${accepted.body.id}`);
    expect(audit).toMatchObject<Partial<AuditEvent>>({
      subtype: [expect.objectContaining({ code: 'override' })],
      agent: [expect.objectContaining({ altId: 'anonymous' })],
      entity: expect.arrayContaining([expect.objectContaining({ detail: [{ type: 'override-reason', valueString: 'walk-in: acute palpitations' }] })]),
    });
  });

  it('checks the patient in (arrived) and completes the visit (fulfilled)', async () => {
    h.clock.now = athens('03-02', '08:55');
    const arrived = await setStatus(checkup.id, 'arrived');
    expect(arrived.status).toBe(200);
    expect(arrived.body['status']).toBe('arrived');
    h.clock.now = athens('03-02', '09:20');
    const fulfilled = await setStatus(checkup.id, 'fulfilled');
    expect(fulfilled.status).toBe(200);
    expect(fulfilled.body['status']).toBe('fulfilled');
    expect(await h.slotStatuses(slotRefs(checkup))).toEqual(['busy']);
    const trail = (await h.auditEvents(`Appointment/${checkup.id}`)).map((e) => e.subtype?.[0]?.code).sort();
    expect(trail).toEqual(['book', 'status-change', 'status-change']);
  });

  it('marks a no-show, which frees the time', async () => {
    h.clock.now = T0;
    const proposal = await h.findOne({ ...WEEK, service: ref.service('fullPhysical'), start: iso(athens('03-02', '11:00')) });
    const booked = await h.book({ 'appointment-resource': proposal, 'patient-reference': nikos });
    expect(booked.status).toBe(201);
    h.clock.now = athens('03-02', '11:30');
    const noshow = await setStatus(booked.body.id, 'noshow');
    expect(noshow.status).toBe(200);
    expect(noshow.body['status']).toBe('noshow');
    expect(await h.slotStatuses(slotRefs(booked.body))).toEqual(['free', 'free', 'free', 'free']);
  });

  it('offers nothing for a doctor on leave once deactivated', async () => {
    h.clock.now = T0;
    const doctor = await h.read<Practitioner & { id: string }>(ref.doctor('georgiou'));
    expect((await h.put(`Practitioner/${doctor.id}`, { ...doctor, active: false })).status).toBe(200);
    expect((await h.find({ ...WEEK, practitioner: ref.doctor('georgiou') })).total).toBe(0);
    const checkups = await h.find({ ...WEEK, service: ref.service('checkup'), _count: '1000' });
    expect(checkups.total).toBeGreaterThan(0);
    expect(new Set(checkups.proposals.flatMap(actorRefs))).toEqual(new Set([ref.doctor('papadopoulou')]));
  });
});
