import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEmbeddedStore } from '../../src/store/embedded/embedded-store';
import type { EmbeddedStore } from '../../src/store/embedded/embedded-store';
import { blockingAppointments, MAX_SLOT_MS, slotsOverlapping, slotsStartingNear } from '../../src/store/scheduling-queries';
import { appointmentWrite, slotWrite } from './store-contract';

/*
 * The booking engine's and $find's queries, run on a real embedded store: the shapes were changed
 * for speed (the `end` condition left to the per-candidate check, an implied `date` bound on
 * blocking appointments), so pin down that they still select exactly what they promise.
 */

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MINUTE = 60_000;

let dir: string;
let store: EmbeddedStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-queries-'));
  store = await createEmbeddedStore({ dataDir: dir });
  await store.commit([
    // Window under test: [09:30, 10:00) on schedule s1.
    slotWrite({ id: 'ends-at-lo', start: T0, minutes: 30 }),
    slotWrite({ id: 'straddles-lo', start: T0 + 15 * MINUTE, minutes: 30 }),
    slotWrite({ id: 'inside', start: T0 + 30 * MINUTE, minutes: 15 }),
    slotWrite({ id: 'inside-busy', start: T0 + 45 * MINUTE, minutes: 15, status: 'busy' }),
    slotWrite({ id: 'starts-at-hi', start: T0 + 60 * MINUTE, minutes: 15 }),
    slotWrite({ id: 'long-hand-made', start: T0 + 30 * MINUTE - MAX_SLOT_MS + MINUTE, minutes: MAX_SLOT_MS / MINUTE }),
    slotWrite({ id: 'other-schedule', start: T0 + 30 * MINUTE, minutes: 15, schedule: 'Schedule/s2' }),
    appointmentWrite('past', ['Practitioner/p'], T0 - 120 * MINUTE, T0 - 60 * MINUTE),
    appointmentWrite('buffer-reaches-in', ['Practitioner/p'], T0, T0 + 15 * MINUTE, 30),
    appointmentWrite('starts-at-hi', ['Practitioner/p'], T0 + 60 * MINUTE, T0 + 90 * MINUTE),
    appointmentWrite('other-actor', ['Practitioner/q'], T0 + 30 * MINUTE, T0 + 45 * MINUTE),
  ]);
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function slotIds(query: Parameters<EmbeddedStore['find']>[1]): Promise<string[]> {
  return (await store.find('Slot', query)).documents.map((d) => d._id).sort();
}

describe('scheduling queries', () => {
  const lo = T0 + 30 * MINUTE;
  const hi = T0 + 60 * MINUTE;

  it('slotsOverlapping returns the Slots of the schedule that overlap [lo, hi), including one that starts before lo', async () => {
    expect(await slotIds(slotsOverlapping(['Schedule/s1'], lo, hi))).toEqual(['inside', 'inside-busy', 'long-hand-made', 'straddles-lo']);
  });

  it('slotsOverlapping with statuses keeps only those statuses', async () => {
    expect(await slotIds(slotsOverlapping(['Schedule/s1'], lo, hi, ['free']))).toEqual(['inside', 'long-hand-made', 'straddles-lo']);
  });

  it('slotsStartingNear returns every Slot starting in (lo - MAX_SLOT_MS, hi), also one that ended at lo (the caller checks end)', async () => {
    expect(await slotIds(slotsStartingNear(['Schedule/s1'], lo, hi, ['free']))).toEqual(['ends-at-lo', 'inside', 'long-hand-made', 'straddles-lo']);
  });

  it('blockingAppointments finds an appointment whose buffer reaches into the window, not one starting at its end or past ones', async () => {
    const { documents } = await store.find('Appointment', blockingAppointments(['Practitioner/p'], lo, hi));
    expect(documents.map((d) => d._id)).toEqual(['buffer-reaches-in']);
  });
});
