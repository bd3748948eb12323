import type { Appointment, Slot } from 'fhir/r4';
import { EXAM_ROOM, locationResource, practitionerResource, scheduleResource } from '../../scripts/demo-clinic';
import { athens, Harness, iso, MINUTE } from '../helpers/clinic';

/*
 * SPEC §4.5 "Slot status follows the appointments". Dr. P works alone (`sch-p`, 15-minute Slots)
 * and with room R (`sch-pr`, 30 minutes); Dr. Q works with the same room R (`sch-qr`, 30 minutes).
 */

let h: Harness;
const P = 'Practitioner/dr-p';
const Q = 'Practitioner/dr-q';
const R = 'Location/room-r';

beforeAll(async () => {
  h = await Harness.start({ SLOT_HORIZON_DAYS: '3' });
  await h.load([
    practitionerResource('dr-p', 'Pappas', 'Petros'),
    practitionerResource('dr-q', 'Quinn', 'Quentin'),
    locationResource('room-r', 'Room R', EXAM_ROOM),
    scheduleResource({ id: 'sch-p', actors: [P], availability: { slotMinutes: 15 } }),
    scheduleResource({ id: 'sch-pr', actors: [P, R], availability: { slotMinutes: 30 } }),
    scheduleResource({ id: 'sch-qr', actors: [Q, R], availability: { slotMinutes: 30 } }),
  ]);
});

afterAll(async () => {
  await h.close();
});

/** Statuses of a schedule's Slots in [from, to) on Tuesday, as "HH:MM status". */
async function statuses(schedule: string, from: string, to: string, day = '03-02'): Promise<string[]> {
  const slots = await h.slotsOf(schedule, athens(day, from), athens(day, to));
  return slots.map((s) => `${new Date(Date.parse(s.start) + 2 * 60 * MINUTE).toISOString().slice(11, 16)} ${s.status}`);
}

async function slotsAt(schedule: string, from: string, to: string, day = '03-02'): Promise<Array<Slot & { id: string }>> {
  return (await h.slotsOf(schedule, athens(day, from), athens(day, to))).filter((s) => Date.parse(s.start) >= athens(day, from));
}

async function book(slots: ReadonlyArray<Slot & { id: string }>): Promise<Appointment & { id: string }> {
  const res = await h.book({
    'appointment-resource': {
      resourceType: 'Appointment',
      status: 'proposed',
      slot: slots.map((s) => ({ reference: `Slot/${s.id}` })),
      participant: [],
    } as Appointment,
    'patient-reference': 'Patient/ss',
  });
  if (res.status !== 201) throw new Error(`book: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

function setStatus(a: Appointment & { id: string }, status: Appointment['status']): Promise<unknown> {
  return h.call('PATCH', `Appointment/${a.id}`, [{ op: 'replace', path: '/status', value: status }]).then((r) => {
    expect(r.status).toBe(200);
  });
}

describe('Slot status follows appointments', () => {
  it("marks the covered Slot busy and the overlapping Slot of another schedule sharing the doctor busy; cancel frees both", async () => {
    const a = await book(await slotsAt('sch-p', '09:00', '09:15'));
    expect(await statuses('sch-p', '09:00', '09:30')).toEqual(['09:00 busy', '09:15 free']);
    expect(await statuses('sch-pr', '09:00', '10:00')).toEqual(['09:00 busy', '09:30 free']);
    // Dr. Q's schedule shares only the room, which this appointment does not use.
    expect(await statuses('sch-qr', '09:00', '10:00')).toEqual(['09:00 free', '09:30 free']);
    await setStatus(a, 'cancelled');
    expect(await statuses('sch-p', '09:00', '09:30')).toEqual(['09:00 free', '09:15 free']);
    expect(await statuses('sch-pr', '09:00', '10:00')).toEqual(['09:00 free', '09:30 free']);
  });

  it("a joint doctor+room booking blocks the doctor's own Slots and the other doctor's joint Slot with that room", async () => {
    const a = await book(await slotsAt('sch-pr', '10:00', '10:30'));
    expect(await statuses('sch-pr', '10:00', '11:00')).toEqual(['10:00 busy', '10:30 free']);
    expect(await statuses('sch-p', '10:00', '10:45')).toEqual(['10:00 busy', '10:15 busy', '10:30 free']);
    expect(await statuses('sch-qr', '10:00', '11:00')).toEqual(['10:00 busy', '10:30 free']);
    await setStatus(a, 'noshow');
    expect(await statuses('sch-p', '10:00', '10:45')).toEqual(['10:00 free', '10:15 free', '10:30 free']);
    expect(await statuses('sch-qr', '10:00', '11:00')).toEqual(['10:00 free', '10:30 free']);
  });

  it('keeps a Slot busy while another appointment still blocks it', async () => {
    const first = await book(await slotsAt('sch-p', '11:00', '11:15'));
    const second = await book(await slotsAt('sch-p', '11:15', '11:30'));
    expect(await statuses('sch-pr', '11:00', '11:30')).toEqual(['11:00 busy']);
    await setStatus(first, 'cancelled');
    expect(await statuses('sch-p', '11:00', '11:30')).toEqual(['11:00 free', '11:15 busy']);
    expect(await statuses('sch-pr', '11:00', '11:30')).toEqual(['11:00 busy']);
    await setStatus(second, 'entered-in-error');
    expect(await statuses('sch-pr', '11:00', '11:30')).toEqual(['11:00 free']);
    expect(await statuses('sch-p', '11:00', '11:30')).toEqual(['11:00 free', '11:15 free']);
  });

  it('a hold makes its Slot busy-tentative and the shared Slots busy; expiry frees them', async () => {
    const held = await h.hold({ 'appointment-resource': { resourceType: 'Appointment', status: 'proposed', slot: [{ reference: `Slot/${(await slotsAt('sch-qr', '12:00', '12:30'))[0]?.id ?? ''}` }], participant: [] } as Appointment });
    expect(held.status).toBe(201);
    expect(await statuses('sch-qr', '12:00', '12:30')).toEqual(['12:00 busy-tentative']);
    expect(await statuses('sch-pr', '12:00', '12:30')).toEqual(['12:00 busy']);
    const clock = h.clock.now;
    h.clock.now = clock + 3600_000;
    try {
      expect(await h.engine().expireHold(held.body.id)).toBe(true);
    } finally {
      h.clock.now = clock;
    }
    expect(await statuses('sch-qr', '12:00', '12:30')).toEqual(['12:00 free']);
    expect(await statuses('sch-pr', '12:00', '12:30')).toEqual(['12:00 free']);
  });

  it('a reschedule frees exactly what the old time blocked and blocks the new time', async () => {
    const a = await book(await slotsAt('sch-pr', '13:00', '13:30'));
    const next = await slotsAt('sch-pr', '14:00', '14:30');
    const res = await h.post<Appointment>(`Appointment/${a.id}/$reschedule`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment-resource', resource: { resourceType: 'Appointment', status: 'proposed', slot: next.map((s) => ({ reference: `Slot/${s.id}` })), participant: [] } }],
    });
    expect(res.status).toBe(200);
    expect(await statuses('sch-p', '13:00', '13:30')).toEqual(['13:00 free', '13:15 free']);
    expect(await statuses('sch-qr', '13:00', '13:30')).toEqual(['13:00 free']);
    expect(await statuses('sch-p', '14:00', '14:30')).toEqual(['14:00 busy', '14:15 busy']);
    expect(await statuses('sch-qr', '14:00', '14:30')).toEqual(['14:00 busy']);
  });

  it('creates generated Slots busy where the actor is already booked', async () => {
    // Dr. Q has a booking on Wednesday 09:00–09:45 made without any Slot.
    const booked = await h.post('Appointment', {
      resourceType: 'Appointment',
      status: 'booked',
      start: iso(athens('03-03', '09:00')),
      end: iso(athens('03-03', '09:45')),
      participant: [
        { actor: { reference: Q }, status: 'accepted' },
        { actor: { reference: 'Patient/ss' }, status: 'accepted' },
      ],
    });
    expect(booked.status).toBe(201);
    await h.load([scheduleResource({ id: 'sch-q', actors: [Q], availability: { slotMinutes: 15 } })]);
    expect(await statuses('sch-q', '08:45', '10:00', '03-03')).toEqual(['08:45 free', '09:00 busy', '09:15 busy', '09:30 busy', '09:45 free']);
    // The busy ones name the appointment that blocks them, and are freed when it is cancelled.
    const [blocked] = await slotsAt('sch-q', '09:00', '09:15', '03-03');
    expect(blocked?.extension).toEqual([{ url: 'https://kairos.dev/fhir/StructureDefinition/blocked-by', valueReference: { reference: `Appointment/${String(booked.body.id)}` } }]);
    const a = await h.read<Appointment & { id: string }>(`Appointment/${String(booked.body.id)}`);
    await setStatus(a, 'cancelled');
    expect(await statuses('sch-q', '08:45', '10:00', '03-03')).toEqual(['08:45 free', '09:00 free', '09:15 free', '09:30 free', '09:45 free']);
  });
});
