import type { AuditEvent, Bundle, Parameters } from 'fhir/r4';
import { practitionerResource, scheduleResource } from '../../scripts/demo-clinic';
import { DAY, Harness, iso, ref, slotRefs, startClinic, T0 } from '../helpers/clinic';

/* SPEC §4.8: every booking-engine change writes one AuditEvent in the same commit; a refused one writes none. */

let h: Harness;
const WINDOW = { start: iso(T0), end: iso(T0 + 3 * DAY) };

beforeAll(async () => {
  h = await startClinic();
});

afterAll(async () => {
  await h.close();
});

function code(e: AuditEvent): string {
  return e.subtype?.[0]?.code ?? '';
}

describe('audit trail of the booking engine', () => {
  it('records hold, book, reschedule and status change: who, what, when, outcome', async () => {
    // Later than 24 h + a few minutes: the reschedule must not fall inside the cancellation notice.
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('georgiou'), start: iso(T0 + DAY + 3600_000) });
    const held = await h.hold({ 'appointment-resource': proposal });
    const id = held.body.id;
    h.clock.now = T0 + 60_000;
    expect((await h.post(`Appointment/${id}/$book`, { resourceType: 'Parameters', parameter: [] })).status).toBe(200);
    h.clock.now = T0 + 120_000;
    expect(
      (
        await h.post(`Appointment/${id}/$reschedule`, {
          resourceType: 'Parameters',
          parameter: [{ name: 'start', valueInstant: '2027-03-03T09:00:00+02:00' }],
        })
      ).status,
    ).toBe(200);
    h.clock.now = T0 + 180_000;
    expect((await h.call('PATCH', `Appointment/${id}`, [{ op: 'replace', path: '/status', value: 'cancelled' }])).status).toBe(200);
    h.clock.now = T0;

    const events = await h.auditEvents(`Appointment/${id}`);
    expect(events.map((e) => [code(e), e.action, e.recorded]).sort((a, b) => String(a[2]).localeCompare(String(b[2])))).toEqual([
      ['hold', 'C', iso(T0)],
      ['book', 'C', iso(T0 + 60_000)],
      ['reschedule', 'U', iso(T0 + 120_000)],
      ['status-change', 'U', iso(T0 + 180_000)],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({
        resourceType: 'AuditEvent',
        outcome: '0',
        agent: [{ who: { display: 'anonymous' }, altId: 'anonymous', requestor: true }],
        entity: [{ what: { reference: `Appointment/${id}` } }],
      });
    }
    // Searchable by agent name and by date.
    const byAgent = await h.search<AuditEvent>('AuditEvent', `agent-name=anonymous&entity=Appointment/${id}`);
    expect(byAgent).toHaveLength(4);
    const byAltId = await h.search<AuditEvent>('AuditEvent', `altid=anonymous&entity=Appointment/${id}`);
    expect(byAltId).toHaveLength(4);
    const byDate = await h.search<AuditEvent>('AuditEvent', `entity=Appointment/${id}&date=ge${iso(T0 + 100_000)}`);
    expect(byDate.map(code).sort()).toEqual(['reschedule', 'status-change']);
  });

  it('writes no AuditEvent for a refused booking', async () => {
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('nikolaou') });
    expect((await h.book({ 'appointment-resource': proposal })).status).toBe(201);
    const before = await h.count('AuditEvent');
    expect((await h.book({ 'appointment-resource': proposal })).status).toBe(409);
    expect(await h.count('AuditEvent')).toBe(before);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
  });

  it('records a generator run that changed Slots, against the Schedule', async () => {
    await h.load([
      practitionerResource('dr-audit', 'Audit', 'Aris'),
      scheduleResource({ id: 'sch-audit', actors: ['Practitioner/dr-audit'], availability: { slotMinutes: 60 } }),
    ]);
    const events = await h.auditEvents('Schedule/sch-audit');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ subtype: [{ code: 'generate' }], action: 'E', outcome: '0', outcomeDesc: expect.stringMatching(/^created \d+, removed 0, unchanged 0$/) });
    // A run that changes nothing is not audited.
    const again = await h.post<Parameters>('Schedule/sch-audit/$generate', { resourceType: 'Parameters', parameter: [] });
    expect(again.status).toBe(200);
    expect(again.body.parameter?.find((p) => p.name === 'created')?.valueInteger).toBe(0);
    expect(await h.auditEvents('Schedule/sch-audit')).toHaveLength(1);
  });

  it('AuditEvents cannot be updated or deleted', async () => {
    const [event] = await h.search<AuditEvent & { id: string }>('AuditEvent', '_count=1');
    expect(event).toBeDefined();
    const id = event?.id ?? '';
    const put = await h.put(`AuditEvent/${id}`, { ...event, outcome: '8' });
    expect(put.status).toBeGreaterThanOrEqual(400);
    expect(put.status).toBeLessThan(500);
    const del = await h.call('DELETE', `AuditEvent/${id}`);
    expect(del.status).toBeGreaterThanOrEqual(400);
    expect(del.status).toBeLessThan(500);
    expect((await h.get<Bundle>(`AuditEvent/${id}`)).body).toEqual(event);
  });
});
