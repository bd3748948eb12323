import type { Appointment } from 'fhir/r4';
import { athens, DAY, Harness, iso, ref, slotRefs, startClinic, T0 } from '../helpers/clinic';

let h: Harness;
const WINDOW = { start: iso(T0), end: iso(T0 + 3 * DAY) };

beforeAll(async () => {
  h = await startClinic();
});

afterAll(async () => {
  await h.close();
});

function key(name: string): Record<string, string> {
  return { 'Idempotency-Key': `${name}-${Math.random().toString(36).slice(2)}` };
}

describe('Idempotency-Key', () => {
  it('a retried $book returns the first result and books nothing twice, even with another body', async () => {
    const headers = key('book');
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou') });
    const first = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/idem-1' }, headers);
    expect(first.status).toBe(201);
    const retry = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/idem-1' }, headers);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    const other = await h.findOne({ ...WINDOW, practitioner: ref.doctor('georgiou') });
    const different = await h.book({ 'appointment-resource': other }, headers);
    expect(different.body.id).toBe(first.body.id);
    expect(await h.slotStatuses(slotRefs(other))).toEqual(['free']);
    expect(await h.count('Appointment', 'patient=Patient/idem-1')).toBe(1);
  });

  it('parallel requests with the same key book once', async () => {
    const headers = key('parallel');
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('nikolaou') });
    const before = await h.count('Appointment');
    const results = await Promise.all(Array.from({ length: 10 }, () => h.book({ 'appointment-resource': proposal }, headers)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await h.count('Appointment')).toBe(before + 1);
  });

  it('a retried $hold returns the same hold', async () => {
    const headers = key('hold');
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('alexiou') });
    const first = await h.hold({ 'appointment-resource': proposal }, headers);
    expect(first.status).toBe(201);
    const retry = await h.hold({ 'appointment-resource': proposal }, headers);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy-tentative']);
  });

  it('a retried $reschedule does not move the appointment again', async () => {
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('georgiou'), start: iso(athens('03-02', '12:00')) });
    const booked = await h.book({ 'appointment-resource': proposal });
    const headers = key('reschedule');
    const body = (start: string, end: string): unknown => ({
      resourceType: 'Parameters',
      parameter: [
        { name: 'start', valueInstant: start },
        { name: 'end', valueInstant: end },
      ],
    });
    const moved = await h.post<Appointment>(`Appointment/${booked.body.id}/$reschedule`, body('2027-03-03T12:00:00+02:00', '2027-03-03T12:15:00+02:00'), headers);
    expect(moved.status).toBe(200);
    const retry = await h.post<Appointment>(`Appointment/${booked.body.id}/$reschedule`, body('2027-03-03T15:00:00+02:00', '2027-03-03T15:15:00+02:00'), headers);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(moved.body);
    expect((await h.read<Appointment>(`Appointment/${booked.body.id}`)).meta?.versionId).toBe('2');
  });

  it('a key whose request failed is not spent: the retry is processed', async () => {
    const headers = key('failed');
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou'), start: iso(athens('03-03', '09:00')) });
    const blocker = await h.hold({ 'appointment-resource': proposal });
    const refused = await h.book({ 'appointment-resource': proposal }, headers);
    expect(refused.status).toBe(409);
    expect((await h.call('PATCH', `Appointment/${blocker.body.id}`, [{ op: 'replace', path: '/status', value: 'cancelled' }])).status).toBe(200);
    const retry = await h.book({ 'appointment-resource': proposal }, headers);
    expect(retry.status).toBe(201);
  });
});
