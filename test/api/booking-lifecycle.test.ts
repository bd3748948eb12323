import type { Appointment, AuditEvent } from 'fhir/r4';
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

let nextStart = athens('03-02', '09:00');

/** Books the next free checkup of Dr. Georgiou (each test its own time). */
async function booked(): Promise<Appointment & { id: string }> {
  const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('georgiou'), start: iso(nextStart) });
  nextStart += 15 * 60_000;
  const res = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/life-1' });
  expect(res.status).toBe(201);
  return res.body;
}

function patchStatus(id: string, status: string, headers: Record<string, string> = {}, extra: object[] = []): Promise<HttpResult> {
  return h.call('PATCH', `Appointment/${id}`, [{ op: 'replace', path: '/status', value: status }, ...extra], headers);
}

async function auditCodes(id: string): Promise<string[]> {
  return (await h.auditEvents(`Appointment/${id}`)).map((a) => a.subtype?.[0]?.code ?? '').sort();
}

describe('Appointment lifecycle through REST', () => {
  it('goes booked → arrived → fulfilled, keeping its Slots busy, auditing each change', async () => {
    const a = await booked();
    const arrived = await patchStatus(a.id, 'arrived');
    expect(arrived.status).toBe(200);
    expect(arrived.body).toMatchObject({ status: 'arrived', meta: { versionId: '2' } });
    expect(await h.slotStatuses(slotRefs(a))).toEqual(['busy']);
    const fulfilled = await h.put(`Appointment/${a.id}`, { ...arrived.body, status: 'fulfilled' });
    expect(fulfilled.status).toBe(200);
    expect(fulfilled.body).toMatchObject({ status: 'fulfilled', meta: { versionId: '3' } });
    // The time was used: SPEC §4.5 frees Slots only on cancel, no-show and entered-in-error.
    expect(await h.slotStatuses(slotRefs(a))).toEqual(['busy']);
    expect(await auditCodes(a.id)).toEqual(['book', 'status-change', 'status-change']);
  });

  it('refuses a transition the lifecycle does not allow with 422 and changes nothing', async () => {
    const a = await booked();
    expect((await patchStatus(a.id, 'arrived')).status).toBe(200);
    expect((await patchStatus(a.id, 'fulfilled')).status).toBe(200);
    const current = await h.read<Appointment>(`Appointment/${a.id}`);
    const back = await patchStatus(a.id, 'booked');
    expect(back.status).toBe(422);
    expect(back.body).toEqual(outcomeOf('business-rule', 'An Appointment cannot go from fulfilled to booked'));
    expect(await h.read<Appointment>(`Appointment/${a.id}`)).toEqual(current);

    const b = await booked();
    const skip = await patchStatus(b.id, 'fulfilled');
    expect(skip.status).toBe(422);
    expect(skip.body).toEqual(outcomeOf('business-rule', 'An Appointment cannot go from booked to fulfilled'));
    const arrivedNoShow = await patchStatus(b.id, 'arrived');
    expect(arrivedNoShow.status).toBe(200);
    const noshow = await patchStatus(b.id, 'noshow');
    expect(noshow.status).toBe(422);
    expect(noshow.body).toEqual(outcomeOf('business-rule', 'from arrived to noshow'));
    expect(await h.slotStatuses(slotRefs(b))).toEqual(['busy']);
  });

  it('refuses to check in a hold (pending → arrived)', async () => {
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('nikolaou') });
    const held = await h.hold({ 'appointment-resource': proposal });
    const res = await patchStatus(held.body.id, 'arrived');
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcomeOf('business-rule', 'from pending to arrived'));
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy-tentative']);
  });

  it('cancels with the cancellation reason kept and frees the Slots', async () => {
    const a = await booked();
    const reason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason', code: 'pat-cpp' }], text: 'Patient: canceled via patient portal' };
    const res = await patchStatus(a.id, 'cancelled', {}, [{ op: 'add', path: '/cancelationReason', value: reason }]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'cancelled', cancelationReason: reason });
    expect(await h.slotStatuses(slotRefs(a))).toEqual(['free']);
    const again = await h.findOne({ ...WINDOW, practitioner: ref.doctor('georgiou'), start: a.start });
    expect(again.slot).toEqual(a.slot);
  });

  it('frees the Slots on no-show and on entered-in-error', async () => {
    const a = await booked();
    expect((await patchStatus(a.id, 'noshow')).status).toBe(200);
    expect(await h.slotStatuses(slotRefs(a))).toEqual(['free']);
    const b = await booked();
    expect((await patchStatus(b.id, 'entered-in-error')).status).toBe(200);
    expect(await h.slotStatuses(slotRefs(b))).toEqual(['free']);
    expect(await auditCodes(b.id)).toEqual(['book', 'status-change']);
  });

  it('applies the cancellation notice: 422 inside 24 h, unless staff override with a reason (audited)', async () => {
    const [slot] = await h.slotsOf('sch-dr-papadopoulou', athens('03-01', '16:00'), athens('03-01', '16:15'));
    const soon = await h.book(
      {
        'appointment-resource': {
          resourceType: 'Appointment',
          status: 'proposed',
          slot: [{ reference: `Slot/${slot?.id ?? ''}` }],
          participant: [{ actor: { reference: ref.doctor('papadopoulou') }, status: 'needs-action' }],
        } as Appointment,
      },
      { 'X-Override-Reason': 'same-day walk-in' },
    );
    expect(soon.status).toBe(201);
    const refused = await patchStatus(soon.body.id, 'cancelled');
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual(outcomeOf('business-rule', 'Cancellations must come at least 1440 minutes before the start (cancelNoticeMinutes)'));
    expect((await h.read<Appointment>(`Appointment/${soon.body.id}`)).status).toBe('booked');
    expect(await h.slotStatuses(slotRefs(soon.body))).toEqual(['busy']);

    const cancelled = await patchStatus(soon.body.id, 'cancelled', { 'X-Override-Reason': 'doctor called in sick' });
    expect(cancelled.status).toBe(200);
    expect(await h.slotStatuses(slotRefs(soon.body))).toEqual(['free']);
    const overrides = (await h.auditEvents(`Appointment/${soon.body.id}`)).filter((e) => e.subtype?.[0]?.code === 'override');
    expect(overrides).toHaveLength(2);
    expect(overrides.flatMap((e: AuditEvent) => (e.entity ?? []).flatMap((x) => x.detail ?? [])).map((d) => d.valueString).sort()).toEqual([
      'doctor called in sick',
      'same-day walk-in',
    ]);
  });

  it('lets staff confirm (booked) a pending appointment and cancel a hold', async () => {
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('alexiou') });
    const held = await h.hold({ 'appointment-resource': proposal });
    const cancelled = await patchStatus(held.body.id, 'cancelled');
    expect(cancelled.status).toBe(200);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['free']);
  });
});
