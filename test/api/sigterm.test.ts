import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, postJson, startServerProcess as startServer } from '../helpers/server-process';

/**
 * SPEC §7 / issue "life cycle": SIGTERM stops accepting, finishes in-flight requests, flushes the
 * store and exits 0; every write the server acknowledged is there after a restart. Runs the real
 * server process (src/main.ts through the test TypeScript hook), not the in-process app.
 */

describe('graceful shutdown', () => {
  let dataDir: string;
  const started: ChildProcess[] = [];

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'kairos-sigterm-'));
  });
  afterAll(() => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits 0 on SIGTERM during a stream of bookings and keeps every acknowledged write', async () => {
    const port = await freePort();
    const first = await startServer(dataDir, port);
    started.push(first.child);
    const fhir = `${first.base}/fhir`;

    // Hand-made Slots of one schedule, one per booking.
    const practitioner = await postJson(`${fhir}/Practitioner`, { resourceType: 'Practitioner' });
    const schedule = await postJson(`${fhir}/Schedule`, {
      resourceType: 'Schedule',
      active: true,
      actor: [{ reference: `Practitioner/${String(practitioner.body['id'])}` }],
    });
    const slotIds: string[] = [];
    const dayAhead = Date.now() + 2 * 86_400_000;
    for (let i = 0; i < 40; i++) {
      const slot = await postJson(`${fhir}/Slot`, {
        resourceType: 'Slot',
        schedule: { reference: `Schedule/${String(schedule.body['id'])}` },
        status: 'free',
        start: new Date(dayAhead + i * 1_800_000).toISOString(),
        end: new Date(dayAhead + (i + 1) * 1_800_000).toISOString(),
      });
      expect(slot.status).toBe(201);
      slotIds.push(String(slot.body['id']));
    }

    const acknowledged: string[] = [];
    const failures: string[] = [];
    let sigtermSent = false;
    /** Requests sent before SIGTERM and acknowledged after it: the drain finished them. */
    let drained = 0;
    const record = (status: number, type: string, id: unknown, sentBeforeSigterm: boolean): void => {
      if (status >= 200 && status < 300) {
        acknowledged.push(`${type}/${String(id)}`);
        if (sentBeforeSigterm && sigtermSent) drained++;
      } else if (status >= 500) failures.push(`${type}: ${status}`);
    };
    // Each worker writes until the server stops answering (after SIGTERM).
    const creator = async (worker: number): Promise<void> => {
      for (let n = 0; n < 2000; n++) {
        const before = !sigtermSent;
        try {
          const res = await postJson(`${fhir}/Patient`, { resourceType: 'Patient', name: [{ family: `w${worker}-${n}` }] });
          record(res.status, 'Patient', res.body['id'], before);
        } catch {
          if (sigtermSent) return;
          throw new Error('request failed before SIGTERM');
        }
      }
    };
    const booker = async (worker: number, slots: string[]): Promise<void> => {
      for (const slot of slots) {
        const before = !sigtermSent;
        try {
          const res = await postJson(`${fhir}/Appointment/$book`, {
            resourceType: 'Parameters',
            parameter: [
              { name: 'appointment-resource', resource: { resourceType: 'Appointment', status: 'proposed', slot: [{ reference: `Slot/${slot}` }] } },
            ],
          });
          record(res.status, 'Appointment', res.body['id'], before);
        } catch {
          if (sigtermSent) return;
          throw new Error(`booking by worker ${worker} failed before SIGTERM`);
        }
      }
    };
    const workers = [creator(1), creator(2), creator(3), booker(1, slotIds.slice(0, 20)), booker(2, slotIds.slice(20))];

    while (acknowledged.filter((a) => a.startsWith('Appointment/')).length < 5 || acknowledged.length < 30) {
      await new Promise((r) => setTimeout(r, 5));
    }
    sigtermSent = true;
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    await Promise.all(workers);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('store closed');
    expect(failures).toEqual([]);
    expect(drained).toBeGreaterThan(0);

    const second = await startServer(dataDir, port);
    started.push(second.child);
    try {
      const missing: string[] = [];
      for (const key of acknowledged) {
        const res = await fetch(`${second.base}/fhir/${key}`);
        if (res.status !== 200) missing.push(`${key}: ${res.status}`);
      }
      expect(missing).toEqual([]);
      const booked = await (await fetch(`${second.base}/fhir/Appointment?status=booked&_summary=count`)).json();
      expect((booked as { total: number }).total).toBe(acknowledged.filter((a) => a.startsWith('Appointment/')).length);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toEqual({ code: 0, signal: null });
    }
  }, 90_000);
});
