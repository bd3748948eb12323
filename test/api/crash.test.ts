import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, getJson, postJson, startServerProcess } from '../helpers/server-process';

/**
 * Issue "Foundation": the server runs as a real process, writes, is killed with SIGKILL mid-stream,
 * restarts, and every acknowledged write is there while no commit is half-applied. Bookings are
 * the multi-document commits here (Appointment + its Slots + an AuditEvent in one commit): after
 * the restart every booked Appointment's Slots are busy and every busy Slot belongs to a booked
 * Appointment.
 */
describe('crash safety of the embedded store (SIGKILL)', () => {
  let dataDir: string;
  const started: ChildProcess[] = [];

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'kairos-crash-'));
  });
  afterAll(() => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged write and no half commit after kill -9', async () => {
    const port = await freePort();
    const first = await startServerProcess(dataDir, port);
    started.push(first.child);
    const fhir = `${first.base}/fhir`;

    const practitioner = await postJson(`${fhir}/Practitioner`, { resourceType: 'Practitioner' });
    const schedule = await postJson(`${fhir}/Schedule`, {
      resourceType: 'Schedule',
      active: true,
      actor: [{ reference: `Practitioner/${String(practitioner.body['id'])}` }],
    });
    const scheduleRef = `Schedule/${String(schedule.body['id'])}`;
    const slotIds: string[] = [];
    const dayAhead = Date.now() + 2 * 86_400_000;
    for (let i = 0; i < 120; i++) {
      const slot = await postJson(`${fhir}/Slot`, {
        resourceType: 'Slot',
        schedule: { reference: scheduleRef },
        status: 'free',
        start: new Date(dayAhead + i * 900_000).toISOString(),
        end: new Date(dayAhead + (i + 1) * 900_000).toISOString(),
      });
      expect(slot.status).toBe(201);
      slotIds.push(String(slot.body['id']));
    }

    const acknowledged: string[] = [];
    let killed = false;
    const creator = async (worker: number): Promise<void> => {
      for (let n = 0; !killed && n < 5000; n++) {
        try {
          const res = await postJson(`${fhir}/Patient`, { resourceType: 'Patient', name: [{ family: `crash-${worker}-${n}` }] });
          if (res.status === 201) acknowledged.push(`Patient/${String(res.body['id'])}`);
        } catch {
          return;
        }
      }
    };
    const booker = async (slots: string[]): Promise<void> => {
      for (const slot of slots) {
        if (killed) return;
        try {
          const res = await postJson(`${fhir}/Appointment/$book`, {
            resourceType: 'Parameters',
            parameter: [
              { name: 'appointment-resource', resource: { resourceType: 'Appointment', status: 'proposed', slot: [{ reference: `Slot/${slot}` }] } },
            ],
          });
          if (res.status === 201) acknowledged.push(`Appointment/${String(res.body['id'])}`);
        } catch {
          return;
        }
      }
    };
    const workers = [creator(1), creator(2), booker(slotIds.slice(0, 60)), booker(slotIds.slice(60))];
    while (acknowledged.filter((a) => a.startsWith('Appointment/')).length < 20 || acknowledged.length < 60) {
      await new Promise((r) => setTimeout(r, 2));
    }
    killed = true;
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await Promise.all(workers);

    const second = await startServerProcess(dataDir, port);
    started.push(second.child);
    try {
      const missing: string[] = [];
      for (const key of acknowledged) {
        const res = await getJson(`${second.base}/fhir/${key}`);
        if (res.status !== 200) missing.push(`${key}: ${res.status}`);
      }
      expect(missing).toEqual([]);

      // No half commit: booked Appointments and busy Slots correspond one to one.
      const booked = await getJson(`${second.base}/fhir/Appointment?status=booked&_count=1000`);
      const entries = (booked.body['entry'] ?? []) as Array<{ resource: { slot: Array<{ reference: string }> } }>;
      const bookedSlots = new Set(entries.flatMap((e) => e.resource.slot.map((s) => s.reference)));
      const busy = await getJson(`${second.base}/fhir/Slot?schedule=${scheduleRef}&status=busy&_count=1000`);
      const busySlots = new Set(((busy.body['entry'] ?? []) as Array<{ resource: { id: string } }>).map((e) => `Slot/${e.resource.id}`));
      expect([...busySlots].sort()).toEqual([...bookedSlots].sort());
      expect(bookedSlots.size).toBeGreaterThanOrEqual(acknowledged.filter((a) => a.startsWith('Appointment/')).length);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});
