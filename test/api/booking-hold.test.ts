import type { Appointment, AuditEvent } from 'fhir/r4';
import pino from 'pino';
import { expireHolds, startBackgroundJobs } from '../../src/scheduling/jobs';
import { DAY, Harness, iso, outcomeOf, ref, slotRefs, startClinic, T0 } from '../helpers/clinic';

const HOLD_EXPIRES = 'https://kairos.dev/fhir/StructureDefinition/hold-expires';
const TTL_SECONDS = 120;
const WINDOW = { start: iso(T0), end: iso(T0 + 3 * DAY) };

let h: Harness;

beforeAll(async () => {
  h = await startClinic({ HOLD_TTL_SECONDS: String(TTL_SECONDS) });
});

afterAll(async () => {
  await h.close();
});

afterEach(() => {
  h.clock.now = T0;
});

async function holdFirst(practitioner: string, patient = 'Patient/hold-1'): Promise<{ proposal: Appointment; held: Appointment & { id: string } }> {
  const proposal = await h.findOne({ ...WINDOW, practitioner });
  const res = await h.hold({ 'appointment-resource': proposal, 'patient-reference': patient });
  expect(res.status).toBe(201);
  return { proposal, held: res.body };
}

describe('$hold', () => {
  it('stores the Appointment pending with hold-expires, and its Slots busy-tentative', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('papadopoulou'));
    expect(held).toMatchObject({
      status: 'pending',
      start: proposal.start,
      end: proposal.end,
      slot: proposal.slot,
      extension: [{ url: HOLD_EXPIRES, valueInstant: iso(T0 + TTL_SECONDS * 1000) }],
    });
    expect(held.participant).toContainEqual({ actor: { reference: 'Patient/hold-1' }, required: 'required', status: 'accepted' });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy-tentative']);
    // The held time is not offered, and cannot be booked by someone else.
    const next = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou') });
    expect(next.start).not.toBe(proposal.start);
    const count = await h.count('Appointment');
    const taken = await h.book({ 'appointment-resource': proposal, 'patient-reference': 'Patient/hold-2' });
    expect(taken.status).toBe(409);
    expect(taken.body).toEqual(outcomeOf('conflict', 'is not free (status busy-tentative)'));
    expect(await h.count('Appointment')).toBe(count);
  });

  it('books the held appointment with Appointment/{id}/$book, keeping its id', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('georgiou'));
    // A minute later the time is inside the 24 h notice, but the hold secured it before that.
    h.clock.now = T0 + 60_000;
    const res = await h.post<Appointment & { id: string }>(`Appointment/${held.id}/$book`, { resourceType: 'Parameters', parameter: [{ name: 'comment', valueString: 'confirmed by phone' }] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: held.id, status: 'booked', comment: 'confirmed by phone', meta: { versionId: '2' }, slot: proposal.slot });
    expect(res.body.extension).toBeUndefined();
    expect(res.body.participant).toContainEqual({ actor: { reference: 'Patient/hold-1' }, required: 'required', status: 'accepted' });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
    expect(await h.count('Appointment', `slot=${slotRefs(proposal)[0] ?? ''}`)).toBe(1);
  });

  it('books the held appointment with a type-level $book and appointment-reference', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('nikolaou'));
    const res = await h.book({ 'appointment-reference': `Appointment/${held.id}` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: held.id, status: 'booked' });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
  });

  it('books the held appointment given back as appointment-resource, keeping its id', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('alexiou'));
    const before = await h.count('Appointment');
    const res = await h.book({ 'appointment-resource': held });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: held.id, status: 'booked' });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy']);
    expect(await h.count('Appointment')).toBe(before);
  });

  it('releases an expired hold: cancelled with reason hold-expired, Slots free, audited', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('papadopoulou'), 'Patient/hold-3');
    const engine = h.engine();
    // Not before its time.
    expect(await expireHolds(h.t.store, engine, T0 + TTL_SECONDS * 1000 - 1)).toBe(0);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy-tentative']);
    h.clock.now = T0 + TTL_SECONDS * 1000 + 1;
    expect(await expireHolds(h.t.store, engine, h.clock.now)).toBeGreaterThanOrEqual(1);
    const released = await h.read<Appointment>(`Appointment/${held.id}`);
    expect(released).toMatchObject({ status: 'cancelled', cancelationReason: { coding: [expect.objectContaining({ code: 'hold-expired' })] } });
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['free']);
    const audits = await h.auditEvents(`Appointment/${held.id}`);
    expect(audits.map((a) => a.subtype?.[0]?.code).sort()).toEqual(['hold', 'hold-expired']);
    const expiry = audits.find((a) => a.subtype?.[0]?.code === 'hold-expired');
    expect(expiry).toMatchObject<Partial<AuditEvent>>({ agent: [expect.objectContaining({ altId: 'kairos' })], outcome: '0' });
    // The time is offered again.
    const again = await h.findOne({ ...WINDOW, practitioner: ref.doctor('papadopoulou') });
    expect(again.slot).toEqual(proposal.slot);
  });

  it('refuses to book a hold that has expired but not yet been swept, and writes nothing', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('papadopoulou'), 'Patient/hold-4');
    h.clock.now = T0 + TTL_SECONDS * 1000 + 5_000;
    const res = await h.post(`Appointment/${held.id}/$book`, { resourceType: 'Parameters', parameter: [] });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(outcomeOf('conflict', `The hold on Appointment/${held.id} expired`));
    expect(await h.read<Appointment>(`Appointment/${held.id}`)).toEqual(held);
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['busy-tentative']);
  });

  it('does not expire a pending appointment that is not a hold', async () => {
    const engine = h.engine();
    const proposal = await h.findOne({ ...WINDOW, practitioner: ref.doctor('georgiou') });
    const res = await h.post<Appointment & { id: string }>('Appointment', { ...proposal, status: 'pending' });
    expect(res.status).toBe(201);
    h.clock.now = T0 + 10 * DAY;
    await expireHolds(h.t.store, engine, h.clock.now);
    expect((await h.read<Appointment>(`Appointment/${res.body.id}`)).status).toBe('pending');
  });

  it('is released by the background job within seconds of expiring', async () => {
    const { proposal, held } = await holdFirst(ref.doctor('nikolaou'), 'Patient/hold-5');
    const released: number[] = [];
    const jobs = startBackgroundJobs({
      store: h.t.store,
      engine: h.engine(),
      now: () => h.clock.now,
      logger: pino({ level: 'silent' }),
      slotHorizonDays: 3,
      generatorIntervalSeconds: 3600,
      generatorFirstRunSeconds: 60,
      holdSweepMs: 25,
      onHoldsExpired: (n) => released.push(n),
    });
    try {
      h.clock.now = T0 + TTL_SECONDS * 1000 + 1;
      const deadline = Date.now() + 3000;
      while ((await h.read<Appointment>(`Appointment/${held.id}`)).status === 'pending' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await jobs.stop();
    }
    expect((await h.read<Appointment>(`Appointment/${held.id}`)).status).toBe('cancelled');
    expect(await h.slotStatuses(slotRefs(proposal))).toEqual(['free']);
    expect(released.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  });
});
