import type { Appointment, Slot } from 'fhir/r4';
import { locationResource, practitionerResource, PROCEDURE_ROOM, scheduleResource } from '../../scripts/demo-clinic';
import { athens, Harness, iso, MINUTE, outcomeOf, slotRefs } from '../helpers/clinic';

/*
 * SPEC §4.5 through plain REST: POST/PUT/PATCH/DELETE of an Appointment go through the booking
 * engine. Dr. Invariant works schedule `sch-inv` (30-minute Slots, 10-minute buffer) and, with the
 * procedure room, the joint schedule `sch-inv-room`. No booking policy: any future time is bookable.
 */

let h: Harness;
const DR = 'Practitioner/dr-inv';
const ROOM = 'Location/room-inv';

beforeAll(async () => {
  h = await Harness.start({ SLOT_HORIZON_DAYS: '3' });
  await h.load([
    practitionerResource('dr-inv', 'Invariant', 'Ines'),
    locationResource('room-inv', 'Procedure room B', PROCEDURE_ROOM),
    scheduleResource({ id: 'sch-inv', actors: [DR], availability: { slotMinutes: 30, bufferMinutes: 10 } }),
    scheduleResource({ id: 'sch-inv-room', actors: [DR, ROOM], availability: { slotMinutes: 60 } }),
  ]);
});

afterAll(async () => {
  await h.close();
});

async function slotAt(schedule: string, local: string, day = '03-02'): Promise<Slot & { id: string }> {
  const start = athens(day, local);
  const [slot] = (await h.slotsOf(schedule, start, start + MINUTE)).filter((s) => Date.parse(s.start) === start);
  if (slot === undefined) throw new Error(`no Slot of ${schedule} at ${local}`);
  return slot;
}

function timeOnly(start: number, minutes: number, actors: readonly string[], status: Appointment['status'] = 'booked'): Appointment {
  return {
    resourceType: 'Appointment',
    status,
    start: iso(start),
    end: iso(start + minutes * MINUTE),
    participant: [...actors.map((reference) => ({ actor: { reference }, status: 'accepted' as const })), { actor: { reference: 'Patient/inv' }, status: 'accepted' }],
  };
}

/** R4 app-3: a booked Appointment needs start and end, so they are given with the Slots. */
function withSlots(slots: ReadonlyArray<Slot & { id: string }>, status: Appointment['status'] = 'booked'): Appointment {
  return {
    resourceType: 'Appointment',
    status,
    start: slots[0]?.start,
    end: slots.at(-1)?.end,
    slot: slots.map((s) => ({ reference: `Slot/${s.id}` })),
    participant: [{ actor: { reference: 'Patient/inv' }, status: 'accepted' }],
  };
}

describe('the booking invariant on plain REST writes', () => {
  it('POST with Slot references books them and records the schedule actors as participants', async () => {
    const slot = await slotAt('sch-inv', '09:00');
    const res = await h.post<Appointment & { id: string }>('Appointment', withSlots([slot]));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'booked', start: slot.start, end: slot.end });
    expect(res.body.participant).toContainEqual({ actor: { reference: DR }, required: 'required', status: 'accepted' });
    expect(await h.slotStatuses([`Slot/${slot.id}`])).toEqual(['busy']);
    // The joint schedule's 09:00–10:00 Slot shares the doctor: busy too.
    expect((await slotAt('sch-inv-room', '09:00')).status).toBe('busy');
  });

  it("POST with actors + start/end that overlap the doctor's booking (buffer included) is 409 and writes nothing", async () => {
    const before = await h.count('Appointment');
    // 09:00–09:30 is booked and its schedule adds a 10-minute buffer: 09:35 is still blocked.
    const res = await h.post('Appointment', timeOnly(athens('03-02', '09:35'), 10, [DR]));
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', `${DR} is already booked from`));
    expect(await h.count('Appointment')).toBe(before);
    const after = await h.post('Appointment', timeOnly(athens('03-02', '09:40'), 10, [DR]));
    expect(after.status).toBe(201);
  });

  it("extends a new booking by its own schedule's buffer too", async () => {
    // 08:30–09:00 + 10 minutes of buffer reaches into the 09:00 booking.
    const slot = await slotAt('sch-inv', '08:30');
    const before = await h.count('Appointment');
    const res = await h.post('Appointment', withSlots([slot]));
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', `${DR} is already booked from`));
    expect(await h.count('Appointment')).toBe(before);
    expect((await slotAt('sch-inv', '08:30')).status).toBe('free');
  });

  it('a transaction Bundle cannot get around the invariant: an overlapping Appointment fails it whole', async () => {
    const before = await h.count('Appointment');
    const patientsBefore = await h.count('Patient');
    const res = await h.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:7d1b0f0e-1111-4c1a-9a55-0a0a0a0a0a01', resource: { resourceType: 'Patient', name: [{ family: 'Bundled' }] }, request: { method: 'POST', url: 'Patient' } },
        {
          resource: { ...timeOnly(athens('03-02', '09:10'), 15, [DR]), participant: [{ actor: { reference: DR }, status: 'accepted' }, { actor: { reference: 'urn:uuid:7d1b0f0e-1111-4c1a-9a55-0a0a0a0a0a01' }, status: 'accepted' }] },
          request: { method: 'POST', url: 'Appointment' },
        },
      ],
    });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', `Bundle.entry[1]: ${DR} is already booked from`));
    expect(await h.count('Appointment')).toBe(before);
    expect(await h.count('Patient')).toBe(patientsBefore);
  });

  it('refuses a Slot a client marked busy by hand', async () => {
    const slot = await slotAt('sch-inv', '13:00');
    const blocked = await h.put<Slot>(`Slot/${slot.id}`, { ...slot, status: 'busy', comment: 'team meeting' });
    expect(blocked.status).toBe(200);
    const before = await h.count('Appointment');
    const res = await h.post('Appointment', withSlots([slot]));
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', `Slot/${slot.id} is not free (status busy)`));
    expect(await h.count('Appointment')).toBe(before);
  });

  it('lets a cancelled or proposed appointment overlap (it holds no time)', async () => {
    expect((await h.post('Appointment', timeOnly(athens('03-02', '09:00'), 30, [DR], 'cancelled'))).status).toBe(201);
    expect((await h.post('Appointment', timeOnly(athens('03-02', '09:00'), 30, [DR], 'proposed'))).status).toBe(201);
  });

  it('PUT moving an appointment onto taken time is 409 and leaves it unchanged', async () => {
    const created = await h.post<Appointment & { id: string }>('Appointment', timeOnly(athens('03-02', '11:00'), 20, [DR]));
    expect(created.status).toBe(201);
    const moved = await h.put(`Appointment/${created.body.id}`, { ...created.body, start: iso(athens('03-02', '09:10')), end: iso(athens('03-02', '09:30')) });
    expect(moved.status).toBe(409);
    expect(moved.body).toEqual(outcomeOf('conflict', `${DR} is already booked from`));
    expect(await h.read<Appointment>(`Appointment/${created.body.id}`)).toEqual(created.body);
  });

  it('PATCH moving an appointment to free time frees the old time for others', async () => {
    const created = await h.post<Appointment & { id: string }>('Appointment', timeOnly(athens('03-02', '14:00'), 20, [DR]));
    expect(created.status).toBe(201);
    const patched = await h.call<Appointment>('PATCH', `Appointment/${created.body.id}`, [
      { op: 'replace', path: '/start', value: iso(athens('03-02', '15:00')) },
      { op: 'replace', path: '/end', value: iso(athens('03-02', '15:20')) },
    ]);
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ start: iso(athens('03-02', '15:00')), meta: { versionId: '2' } });
    expect((await h.post('Appointment', timeOnly(athens('03-02', '14:00'), 20, [DR]))).status).toBe(201);
    const clash = await h.post('Appointment', timeOnly(athens('03-02', '15:10'), 20, [DR]));
    expect(clash.status).toBe(409);
  });

  it('PUT and PATCH of an active appointment that change nothing about its time still succeed', async () => {
    const created = await h.post<Appointment & { id: string }>('Appointment', timeOnly(athens('03-03', '09:00'), 30, [DR]));
    expect(created.status).toBe(201);
    const put = await h.put<Appointment>(`Appointment/${created.body.id}`, { ...created.body, comment: 'wheelchair access' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ comment: 'wheelchair access', meta: { versionId: '2' } });
    const patch = await h.call('PATCH', `Appointment/${created.body.id}`, [{ op: 'add', path: '/description', value: 'follow-up' }]);
    expect(patch.status).toBe(200);
  });

  it('a room shared with the doctor: booking the room alone conflicts with the joint booking', async () => {
    const joint = await slotAt('sch-inv-room', '10:00', '03-03');
    const res = await h.post<Appointment & { id: string }>('Appointment', withSlots([joint]));
    expect(res.status).toBe(201);
    expect(res.body.participant?.map((p) => p.actor?.reference)).toEqual(['Patient/inv', DR, ROOM]);
    const room = await h.post('Appointment', timeOnly(athens('03-03', '10:30'), 15, [ROOM]));
    expect(room.status).toBe(409);
    expect(room.body).toEqual(outcomeOf('conflict', `${ROOM} is already booked from`));
    // The doctor's own schedule turned busy where the joint booking (plus nothing: the joint schedule has no buffer) overlaps.
    expect((await slotAt('sch-inv', '10:00', '03-03')).status).toBe('busy');
    expect((await slotAt('sch-inv', '10:30', '03-03')).status).toBe('busy');
    expect((await slotAt('sch-inv', '11:00', '03-03')).status).toBe('free');
  });

  it('DELETE of an active appointment frees its Slots', async () => {
    const slot = await slotAt('sch-inv', '16:00', '03-03');
    const res = await h.post<Appointment & { id: string }>('Appointment', withSlots([slot]));
    expect(res.status).toBe(201);
    expect(await h.slotStatuses(slotRefs(res.body))).toEqual(['busy']);
    const deleted = await h.call('DELETE', `Appointment/${res.body.id}`);
    expect([200, 204]).toContain(deleted.status);
    expect(await h.slotStatuses(slotRefs(res.body))).toEqual(['free']);
    expect((await slotAt('sch-inv-room', '16:00', '03-03')).status).toBe('free');
  });
});
