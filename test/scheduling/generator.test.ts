import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StoredFhirResource } from '../../src/fhir/resource-types';
import { generateAllSchedules } from '../../src/scheduling/generator';
import { createEmbeddedStore } from '../../src/store/embedded/embedded-store';
import type { EmbeddedStore } from '../../src/store/embedded/embedded-store';
import { nextVersion } from '../../src/store/resource-write';
import type { Store } from '../../src/store/store';
import { makeSchedule } from './schedule-builder';

const NOW = Date.parse('2026-06-01T05:00:00Z');
const IDS = ['s1', 's2', 's3', 's4', 's5'];

/** A store that delegates to `store`, with `transaction` watched (and failing for `failFor`). */
function watched(store: EmbeddedStore, failFor?: string): { store: Store; started: string[]; maxInFlight: () => number } {
  const started: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const wrapper: Store = {
    kind: store.kind,
    read: (type, id) => store.read(type, id),
    find: (type, query) => store.find(type, query),
    vread: (type, id, versionId) => store.vread(type, id, versionId),
    history: (type, id, query) => store.history(type, id, query),
    commit: (writes) => store.commit(writes),
    ping: () => store.ping(),
    close: () => store.close(),
    async transaction(lockKeys, fn) {
      const schedule = lockKeys.find((k) => k.startsWith('Schedule/')) ?? '';
      started.push(schedule);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (schedule === failFor) throw new Error(`${schedule} failed`);
        return await store.transaction(lockKeys, fn);
      } finally {
        inFlight--;
      }
    },
  };
  return { store: wrapper, started, maxInFlight: () => maxInFlight };
}

describe('generateAllSchedules', () => {
  let dir: string;
  let store: EmbeddedStore;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-generator-'));
    store = await createEmbeddedStore({ dataDir: dir });
    const writes = IDS.map((id) => {
      const schedule = makeSchedule({ id, slotMinutes: 60, availableTime: [{ start: '09:00:00', end: '12:00:00' }] });
      return nextVersion('Schedule', id, schedule as StoredFhirResource, 'POST', undefined, NOW);
    });
    await store.commit(writes);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rolls every Schedule forward with two runs in flight, one waiting for its commit while the next is planned', async () => {
    const w = watched(store);
    const result = await generateAllSchedules(w.store, () => NOW, { horizonDays: 7, agent: 'test' });
    expect(result).toEqual({ created: 5 * 7 * 3, removed: 0, unchanged: 0 });
    expect(w.started).toEqual(IDS.map((id) => `Schedule/${id}`));
    expect(w.maxInFlight()).toBe(2);
    const { total } = await store.find('Slot', { filter: {}, limit: 0, count: true });
    expect(total).toBe(5 * 7 * 3);
  });

  it('stops at the first failed run and throws its error once the run beside it has ended', async () => {
    const w = watched(store, 'Schedule/s2');
    await expect(generateAllSchedules(w.store, () => NOW, { horizonDays: 7, agent: 'test' })).rejects.toThrow('Schedule/s2 failed');
    // At most the run beside s2 (s3) was started after it; none later.
    expect([IDS.slice(0, 2), IDS.slice(0, 3)].map((ids) => ids.map((id) => `Schedule/${id}`))).toContainEqual(w.started);
    const { documents } = await store.find('Slot', { filter: {} });
    const generated = new Set(documents.map((d) => (d.resource as { schedule?: { reference?: string } } | null)?.schedule?.reference));
    expect(generated.has('Schedule/s1')).toBe(true);
    for (const id of ['s2', 's4', 's5']) expect(generated.has(`Schedule/${id}`)).toBe(false);
  });
});
