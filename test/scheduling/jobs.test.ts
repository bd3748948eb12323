import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../src/config';
import type { StoredFhirResource } from '../../src/fhir/resource-types';
import { BookingEngine } from '../../src/scheduling/booking-engine';
import { startBackgroundJobs } from '../../src/scheduling/jobs';
import { createEmbeddedStore } from '../../src/store/embedded/embedded-store';
import type { EmbeddedStore } from '../../src/store/embedded/embedded-store';
import { nextVersion } from '../../src/store/resource-write';
import { makeSchedule } from './schedule-builder';

const NOW = Date.parse('2027-01-04T06:00:00Z');

describe('GENERATOR_FIRST_RUN_SECONDS', () => {
  test('defaults to 60, takes 0 and any value up to a week, refuses the rest', () => {
    expect(loadConfig({}).generatorFirstRunSeconds).toBe(60);
    expect(loadConfig({ GENERATOR_FIRST_RUN_SECONDS: '0' }).generatorFirstRunSeconds).toBe(0);
    expect(loadConfig({ GENERATOR_FIRST_RUN_SECONDS: '604800' }).generatorFirstRunSeconds).toBe(604800);
    expect(() => loadConfig({ GENERATOR_FIRST_RUN_SECONDS: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ GENERATOR_FIRST_RUN_SECONDS: 'soon' })).toThrow(ConfigError);
  });
});

describe('the periodic slot generator', () => {
  let dir: string;
  let store: EmbeddedStore;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kairos-jobs-'));
    store = await createEmbeddedStore({ dataDir: dir });
    // Written straight into the store, so only the background job can give it Slots.
    const schedule = makeSchedule({ id: 'job', slotMinutes: 30, availableTime: [{ days: ['mon'], start: '09:00:00', end: '10:00:00' }] });
    await store.commit([nextVersion('Schedule', schedule.id, schedule as StoredFhirResource, 'POST', undefined, NOW)]);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const slotCount = async (): Promise<number> => (await store.find('Slot', { filter: {}, limit: 0, count: true })).total ?? -1;

  function start(firstRunSeconds: number): { stop: () => Promise<void> } {
    return startBackgroundJobs({
      store,
      engine: new BookingEngine({ store, now: () => NOW, holdTtlSeconds: 300 }),
      now: () => NOW,
      logger: pino({ level: 'silent' }),
      slotHorizonDays: 7,
      generatorIntervalSeconds: 3600,
      generatorFirstRunSeconds: firstRunSeconds,
    });
  }

  test('runs first after GENERATOR_FIRST_RUN_SECONDS: at 0 it rolls the schedule forward right away', async () => {
    const jobs = start(0);
    try {
      const deadline = Date.now() + 5000;
      while ((await slotCount()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await jobs.stop();
    }
    // Monday 2027-01-04 09:00–10:00 Athens in 30-minute Slots: two, and none more within the 7-day horizon.
    expect(await slotCount()).toBe(2);
  });

  test('with the default delay nothing runs at start (start-up is not held up by a run)', async () => {
    const jobs = start(60);
    await new Promise((r) => setTimeout(r, 300));
    await jobs.stop();
    expect(await slotCount()).toBe(0);
  });
});
