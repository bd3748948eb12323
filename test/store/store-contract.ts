import type { Appointment, Schedule, Slot } from 'fhir/r4';
import { conflict, isFhirError } from '../../src/fhir/outcome';
import type { ResourceType, StoredFhirResource } from '../../src/fhir/resource-types';
import type { ResourceDocument, ResourceWrite, SearchIndex, SortKeys, Store, StoreQuery, WriteMethod } from '../../src/store/store';

/**
 * The storage contract (store.ts) as executable tests, run against every Store implementation
 * (STYLE habit 4). Documents carry hand-written `s`/`o` in the shapes store/query.ts relies on,
 * and the filters are the shapes it produces.
 */

export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SERVICE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/service-type';

interface SlotSpec {
  id: string;
  schedule?: string;
  status?: string;
  start?: number;
  minutes?: number;
  serviceType?: string;
  comment?: string;
  versionId?: number;
  previousVersionId?: number;
  lastUpdated?: number;
  method?: WriteMethod;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function meta(versionId: number, lastUpdated: number): { versionId: string; lastUpdated: string } {
  return { versionId: String(versionId), lastUpdated: iso(lastUpdated) };
}

/** A Slot write with the search values fhir/search-index.ts would extract (seconds precision instants). */
export function slotWrite(spec: SlotSpec): ResourceWrite {
  const versionId = spec.versionId ?? 1;
  const lastUpdated = spec.lastUpdated ?? T0;
  const start = spec.start ?? T0;
  const end = start + (spec.minutes ?? 15) * MINUTE;
  const schedule = spec.schedule ?? 'Schedule/s1';
  const status = spec.status ?? 'free';
  const resource: Slot & StoredFhirResource = {
    resourceType: 'Slot',
    id: spec.id,
    meta: meta(versionId, lastUpdated),
    schedule: { reference: schedule },
    status: status as Slot['status'],
    start: iso(start),
    end: iso(end),
  };
  const s: SearchIndex = {
    schedule: [schedule],
    status: [status],
    start: [{ lo: start, hi: start + 1000 }],
    end: [{ lo: end, hi: end + 1000 }],
    _lastUpdated: [{ lo: lastUpdated, hi: lastUpdated + 1 }],
  };
  if (spec.serviceType !== undefined) {
    resource.serviceType = [{ coding: [{ system: SERVICE_SYSTEM, code: spec.serviceType }] }];
    s['service-type'] = [spec.serviceType, `${SERVICE_SYSTEM}|${spec.serviceType}`, `${SERVICE_SYSTEM}|`];
  }
  if (spec.comment !== undefined) {
    resource.comment = spec.comment;
    s['comment'] = [spec.comment.toLowerCase()];
  }
  const o: SortKeys = { start, _lastUpdated: lastUpdated };
  return {
    resourceType: 'Slot',
    id: spec.id,
    method: spec.method ?? (versionId === 1 ? 'POST' : 'PUT'),
    resource,
    versionId,
    lastUpdated,
    s,
    o,
    previousVersionId: spec.previousVersionId ?? versionId - 1,
  };
}

export function deleteWrite(
  resourceType: ResourceType,
  id: string,
  versionId: number,
  lastUpdated: number = T0,
): ResourceWrite {
  return { resourceType, id, method: 'DELETE', resource: null, versionId, lastUpdated, s: {}, o: {}, previousVersionId: versionId - 1 };
}

export function scheduleWrite(id: string, actor: string, versionId = 1, lastUpdated = T0): ResourceWrite {
  const resource: Schedule & StoredFhirResource = {
    resourceType: 'Schedule',
    id,
    meta: meta(versionId, lastUpdated),
    actor: [{ reference: actor }],
  };
  return {
    resourceType: 'Schedule',
    id,
    method: versionId === 1 ? 'POST' : 'PUT',
    resource,
    versionId,
    lastUpdated,
    s: { actor: [actor], active: ['true'], _lastUpdated: [{ lo: lastUpdated, hi: lastUpdated + 1 }] },
    o: { _lastUpdated: lastUpdated },
    previousVersionId: versionId - 1,
  };
}

/** A booked Appointment of `actors` over [start, end), blocking each actor for that time plus `bufferMinutes`. */
export function appointmentWrite(id: string, actors: string[], start: number, end: number, bufferMinutes = 0): ResourceWrite {
  const resource: Appointment & StoredFhirResource = {
    resourceType: 'Appointment',
    id,
    meta: meta(1, T0),
    status: 'booked',
    start: iso(start),
    end: iso(end),
    participant: actors.map((a) => ({ actor: { reference: a }, status: 'accepted' })),
  };
  return {
    resourceType: 'Appointment',
    id,
    method: 'POST',
    resource,
    versionId: 1,
    lastUpdated: T0,
    s: {
      actor: actors,
      status: ['booked'],
      date: [{ lo: start, hi: start + 1000 }],
      _block: actors.map((a) => ({ a, lo: start, hi: end + bufferMinutes * MINUTE })),
    },
    o: { date: start },
    previousVersionId: 0,
  };
}

function ids(documents: readonly ResourceDocument[]): string[] {
  return documents.map((d) => d._id);
}

async function expectConflict(promise: Promise<unknown>): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  expect(isFhirError(caught)).toBe(true);
  if (isFhirError(caught)) {
    expect(caught.status).toBe(409);
    expect(caught.outcome.issue[0]?.code).toBe('conflict');
  }
}

export function describeStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name}: store contract`, () => {
    let opened: OpenedStore | undefined;
    const store = (): Store => {
      if (opened === undefined) throw new Error('store not opened');
      return opened.store;
    };
    const findIds = async (type: ResourceType, query: Partial<StoreQuery>): Promise<string[]> =>
      ids((await store().find(type, { filter: {}, ...query })).documents);

    beforeEach(async () => {
      opened = await open();
    });
    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
    });

    describe('read, vread and versions', () => {
      test('read returns undefined for a resource that never existed', async () => {
        expect(await store().read('Slot', 'nope')).toBeUndefined();
        expect(await store().vread('Slot', 'nope', 1)).toBeUndefined();
      });

      test('read returns the committed document with its resource, versionId, lastUpdated, s and o', async () => {
        const write = slotWrite({ id: 'a', serviceType: '124' });
        await store().commit([write]);
        const doc = await store().read('Slot', 'a');
        // Member by member: the embedded store's documents produce resource, json and s on first use.
        expect({
          _id: doc?._id,
          versionId: doc?.versionId,
          lastUpdated: doc?.lastUpdated,
          deleted: doc?.deleted,
          resource: doc?.resource,
          json: doc?.json,
          s: doc?.s,
          o: doc?.o,
        }).toEqual({
          _id: 'a',
          versionId: 1,
          lastUpdated: T0,
          deleted: false,
          resource: write.resource,
          // The stored text, where the store keeps text (ResourceDocument.json): exactly the resource's JSON.
          json: store().kind === 'embedded' ? JSON.stringify(write.resource) : undefined,
          s: write.s,
          o: write.o,
        });
      });

      test('update replaces the current version and vread returns every version', async () => {
        await store().commit([slotWrite({ id: 'a', status: 'free' })]);
        await store().commit([slotWrite({ id: 'a', status: 'busy', versionId: 2, lastUpdated: T0 + 1000 })]);
        const current = await store().read('Slot', 'a');
        expect(current?.versionId).toBe(2);
        expect(current?.s['status']).toEqual(['busy']);
        const v1 = await store().vread('Slot', 'a', 1);
        const v2 = await store().vread('Slot', 'a', 2);
        expect(v1).toMatchObject({ resourceType: 'Slot', id: 'a', versionId: 1, lastUpdated: T0, method: 'POST' });
        expect(v1?.resource).toMatchObject({ status: 'free' });
        expect(v2).toMatchObject({ versionId: 2, lastUpdated: T0 + 1000, method: 'PUT' });
        expect(v2?.resource).toMatchObject({ status: 'busy' });
        expect(await store().vread('Slot', 'a', 3)).toBeUndefined();
      });

      test('delete leaves a tombstone: read shows it deleted, vread of the delete has no resource', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        await store().commit([deleteWrite('Slot', 'a', 2, T0 + 1000)]);
        const doc = await store().read('Slot', 'a');
        expect(doc).toMatchObject({ _id: 'a', versionId: 2, deleted: true, resource: null });
        expect(doc?.json).toBeUndefined();
        expect(await store().vread('Slot', 'a', 2)).toMatchObject({ method: 'DELETE', resource: null, versionId: 2 });
        expect((await store().vread('Slot', 'a', 1))?.resource).toMatchObject({ id: 'a' });
      });

      test('a deleted resource is revived by a write naming the tombstone version', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        await store().commit([deleteWrite('Slot', 'a', 2)]);
        await store().commit([slotWrite({ id: 'a', versionId: 3, previousVersionId: 2, status: 'busy' })]);
        const doc = await store().read('Slot', 'a');
        expect(doc).toMatchObject({ versionId: 3, deleted: false, resource: { status: 'busy' } });
        expect(await findIds('Slot', { filter: { 's.status': { $in: ['busy'] } } })).toEqual(['a']);
      });

      test('creating (previousVersionId 0) an id that exists, even as a tombstone, is a 409 that writes nothing', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        await expectConflict(store().commit([slotWrite({ id: 'a', status: 'busy' })]));
        expect((await store().read('Slot', 'a'))?.s['status']).toEqual(['free']);
        await store().commit([deleteWrite('Slot', 'a', 2)]);
        await expectConflict(store().commit([slotWrite({ id: 'a' })]));
        expect((await store().read('Slot', 'a'))?.deleted).toBe(true);
      });

      test('an update naming a stale or missing version is a 409 that writes nothing', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        await store().commit([slotWrite({ id: 'a', versionId: 2 })]);
        await expectConflict(store().commit([slotWrite({ id: 'a', versionId: 3, previousVersionId: 1, status: 'busy' })]));
        await expectConflict(store().commit([slotWrite({ id: 'b', versionId: 2, previousVersionId: 1 })]));
        expect((await store().read('Slot', 'a'))?.versionId).toBe(2);
        expect(await store().read('Slot', 'b')).toBeUndefined();
        expect((await store().history('Slot', 'a', { skip: 0, limit: 10 })).total).toBe(2);
      });

      test('the same id in two types is two resources', async () => {
        await store().commit([slotWrite({ id: 'x' }), scheduleWrite('x', 'Practitioner/p1')]);
        expect((await store().read('Slot', 'x'))?.resource?.resourceType).toBe('Slot');
        expect((await store().read('Schedule', 'x'))?.resource?.resourceType).toBe('Schedule');
      });

      test('returned documents are copies: mutating them or the written resource changes nothing stored', async () => {
        const write = slotWrite({ id: 'a' });
        await store().commit([write]);
        const resource = write.resource as Slot;
        resource.status = 'busy';
        const first = await store().read('Slot', 'a');
        const firstResource = first?.resource as Slot | undefined;
        expect(firstResource?.status).toBe('free');
        if (firstResource !== undefined) firstResource.status = 'busy-unavailable';
        const found = (await store().find('Slot', { filter: {} })).documents[0]?.resource as Slot | undefined;
        expect(found?.status).toBe('free');
        if (found !== undefined) found.comment = 'changed';
        const again = (await store().read('Slot', 'a'))?.resource as Slot | undefined;
        expect(again?.status).toBe('free');
        expect(again?.comment).toBeUndefined();
        expect(((await store().vread('Slot', 'a', 1))?.resource as Slot | undefined)?.status).toBe('free');
        // The text is the stored version's, whatever a caller did to a parsed copy.
        const read = await store().read('Slot', 'a');
        if (read?.json !== undefined) {
          (read.resource as Slot).status = 'busy';
          expect(JSON.parse(read.json)).toMatchObject({ status: 'free' });
        }
      });
    });

    describe('history', () => {
      test('instance history is newest first, includes the delete, and pages with a total', async () => {
        await store().commit([slotWrite({ id: 'a', lastUpdated: T0 })]);
        await store().commit([slotWrite({ id: 'a', versionId: 2, lastUpdated: T0 + 1000 })]);
        await store().commit([deleteWrite('Slot', 'a', 3, T0 + 2000)]);
        await store().commit([slotWrite({ id: 'a', versionId: 4, previousVersionId: 3, lastUpdated: T0 + 3000 })]);
        await store().commit([slotWrite({ id: 'b', lastUpdated: T0 + 500 })]);
        const all = await store().history('Slot', 'a', { skip: 0, limit: 10 });
        expect(all.total).toBe(4);
        expect(all.entries.map((e) => [e.versionId, e.method])).toEqual([
          [4, 'PUT'],
          [3, 'DELETE'],
          [2, 'PUT'],
          [1, 'POST'],
        ]);
        expect(all.entries[1]?.resource).toBeNull();
        const page = await store().history('Slot', 'a', { skip: 1, limit: 2 });
        expect(page.total).toBe(4);
        expect(page.entries.map((e) => e.versionId)).toEqual([3, 2]);
        expect(await store().history('Slot', 'zzz', { skip: 0, limit: 10 })).toEqual({ entries: [], total: 0 });
      });

      test('instance history orders by versionId when two versions share a millisecond', async () => {
        await store().commit([slotWrite({ id: 'a', lastUpdated: T0 })]);
        await store().commit([slotWrite({ id: 'a', versionId: 2, lastUpdated: T0 })]);
        const history = await store().history('Slot', 'a', { skip: 0, limit: 10 });
        expect(history.entries.map((e) => e.versionId)).toEqual([2, 1]);
      });

      test('type history lists every version of the type newest first (ties: id then version descending)', async () => {
        await store().commit([slotWrite({ id: 'a', lastUpdated: T0 })]);
        await store().commit([slotWrite({ id: 'b', lastUpdated: T0 + 1000 }), slotWrite({ id: 'c', lastUpdated: T0 + 1000 })]);
        await store().commit([slotWrite({ id: 'a', versionId: 2, lastUpdated: T0 + 2000 })]);
        await store().commit([scheduleWrite('s1', 'Practitioner/p1', 1, T0 + 3000)]);
        await store().commit([deleteWrite('Slot', 'b', 2, T0 + 4000)]);
        const history = await store().history('Slot', undefined, { skip: 0, limit: 10 });
        expect(history.total).toBe(5);
        expect(history.entries.map((e) => `${e.id}/${e.versionId}/${e.method}`)).toEqual([
          'b/2/DELETE',
          'a/2/PUT',
          'c/1/POST',
          'b/1/POST',
          'a/1/POST',
        ]);
        const page = await store().history('Slot', undefined, { skip: 2, limit: 2 });
        expect(page.entries.map((e) => `${e.id}/${e.versionId}`)).toEqual(['c/1', 'b/1']);
        expect(page.total).toBe(5);
        expect((await store().history('Schedule', undefined, { skip: 0, limit: 10 })).total).toBe(1);
      });

      test('since keeps versions at or after the instant; at keeps versions at or before it', async () => {
        await store().commit([slotWrite({ id: 'a', lastUpdated: T0 })]);
        await store().commit([slotWrite({ id: 'a', versionId: 2, lastUpdated: T0 + 1000 })]);
        await store().commit([slotWrite({ id: 'b', lastUpdated: T0 + 2000 })]);
        const since = await store().history('Slot', undefined, { since: T0 + 1000, skip: 0, limit: 10 });
        expect(since.entries.map((e) => `${e.id}/${e.versionId}`)).toEqual(['b/1', 'a/2']);
        expect(since.total).toBe(2);
        const at = await store().history('Slot', undefined, { at: T0 + 1000, skip: 0, limit: 10 });
        expect(at.entries.map((e) => `${e.id}/${e.versionId}`)).toEqual(['a/2', 'a/1']);
        const instance = await store().history('Slot', 'a', { since: T0 + 1, skip: 0, limit: 10 });
        expect(instance.entries.map((e) => e.versionId)).toEqual([2]);
        expect(instance.total).toBe(1);
      });
    });

    describe('find', () => {
      const day = (n: number): number => T0 + n * DAY;
      /** Three schedules' Slots over three days, plus a deleted one and a Schedule (another type). */
      const seed = async (): Promise<void> => {
        await store().commit([
          slotWrite({ id: 's1-d0', schedule: 'Schedule/s1', start: day(0), serviceType: '124' }),
          slotWrite({ id: 's1-d1', schedule: 'Schedule/s1', start: day(1), status: 'busy' }),
          slotWrite({ id: 's1-d2', schedule: 'Schedule/s1', start: day(2), serviceType: '57' }),
          slotWrite({ id: 's2-d0', schedule: 'Schedule/s2', start: day(0) + HOUR, comment: 'Morning clinic' }),
          slotWrite({ id: 's2-d1', schedule: 'Schedule/s2', start: day(1) + HOUR, status: 'busy-tentative' }),
          slotWrite({ id: 's3-d0', schedule: 'Schedule/s3', start: day(0) + 2 * HOUR, comment: 'evening' }),
          slotWrite({ id: 'gone', schedule: 'Schedule/s1', start: day(0) }),
          scheduleWrite('s1', 'Practitioner/p1'),
        ]);
        await store().commit([deleteWrite('Slot', 'gone', 2)]);
      };
      const within = (code: string, lo: number, hi: number): Record<string, unknown> => ({
        [`s.${code}`]: { $elemMatch: { lo: { $gte: lo }, hi: { $lte: hi } } },
      });

      test('an empty filter returns every live document of the type, ordered by _id, never tombstones', async () => {
        await seed();
        expect(await findIds('Slot', {})).toEqual(['s1-d0', 's1-d1', 's1-d2', 's2-d0', 's2-d1', 's3-d0']);
        expect(await findIds('Schedule', {})).toEqual(['s1']);
        expect(await findIds('Patient', {})).toEqual([]);
      });

      test('$in on a search value matches documents holding any of the keys', async () => {
        await seed();
        expect(await findIds('Slot', { filter: { $and: [{ 's.schedule': { $in: ['Schedule/s2', 'Schedule/s3'] } }] } })).toEqual([
          's2-d0',
          's2-d1',
          's3-d0',
        ]);
        expect(await findIds('Slot', { filter: { $and: [{ 's.status': { $in: ['busy', 'busy-tentative'] } }] } })).toEqual([
          's1-d1',
          's2-d1',
        ]);
        expect(
          await findIds('Slot', {
            filter: { $and: [{ 's.schedule': { $in: ['Schedule/s1'] } }, { 's.status': { $in: ['free'] } }] },
          }),
        ).toEqual(['s1-d0', 's1-d2']);
        expect(await findIds('Slot', { filter: { $and: [{ 's.service-type': { $in: [`${SERVICE_SYSTEM}|`] } }] } })).toEqual([
          's1-d0',
          's1-d2',
        ]);
        expect(await findIds('Slot', { filter: { $and: [{ 's.schedule': { $in: ['Schedule/none'] } }] } })).toEqual([]);
      });

      test('$in on _id matches those ids and skips tombstones', async () => {
        await seed();
        expect(await findIds('Slot', { filter: { $and: [{ _id: { $in: ['s2-d1', 'gone', 's1-d0', 'nope'] } }] } })).toEqual([
          's1-d0',
          's2-d1',
        ]);
      });

      test('$elemMatch date ranges: lo is inclusive, hi exclusive, on start and on end', async () => {
        await seed();
        expect(await findIds('Slot', { filter: { $and: [within('start', day(0), day(1))] } })).toEqual([
          's1-d0',
          's2-d0',
          's3-d0',
        ]);
        // A range starting exactly at the upper bound is outside [lo, hi).
        expect(
          await findIds('Slot', { filter: { $and: [{ 's.start': { $elemMatch: { lo: { $gte: day(0) + HOUR, $lt: day(1) } } } }] } }),
        ).toEqual(['s2-d0', 's3-d0']);
        // end > day(2): only the Slot of day 2 ends after it.
        expect(await findIds('Slot', { filter: { $and: [{ 's.end': { $elemMatch: { hi: { $gt: day(2) + 1000 } } } }] } })).toEqual([
          's1-d2',
        ]);
        // Overlap of [a, b): start < b and end > a.
        const a = day(0) + HOUR + 5 * MINUTE;
        const b = day(0) + 2 * HOUR + 5 * MINUTE;
        expect(
          await findIds('Slot', {
            filter: {
              $and: [{ 's.start': { $elemMatch: { lo: { $lt: b } } } }, { 's.end': { $elemMatch: { hi: { $gt: a } } } }],
            },
          }),
        ).toEqual(['s2-d0', 's3-d0']);
        expect(
          await findIds('Slot', {
            filter: { $and: [{ 's.schedule': { $in: ['Schedule/s1'] } }, { 's.status': { $in: ['free'] } }, within('start', day(0), day(1))] },
          }),
        ).toEqual(['s1-d0']);
      });

      test('$elemMatch on _block finds appointments of an actor overlapping a time', async () => {
        await store().commit([
          appointmentWrite('ap1', ['Practitioner/p1', 'Location/room1'], T0, T0 + 30 * MINUTE, 10),
          appointmentWrite('ap2', ['Practitioner/p2'], T0, T0 + 30 * MINUTE),
          appointmentWrite('ap3', ['Practitioner/p1'], T0 + 2 * HOUR, T0 + 3 * HOUR),
        ]);
        const busy = (actors: string[], lo: number, hi: number): Promise<string[]> =>
          findIds('Appointment', {
            filter: { $and: [{ 's._block': { $elemMatch: { a: { $in: actors }, lo: { $lt: hi }, hi: { $gt: lo } } } }] },
          });
        expect(await busy(['Practitioner/p1'], T0 + 10 * MINUTE, T0 + 20 * MINUTE)).toEqual(['ap1']);
        // Inside ap1's 10-minute buffer.
        expect(await busy(['Location/room1'], T0 + 35 * MINUTE, T0 + 45 * MINUTE)).toEqual(['ap1']);
        expect(await busy(['Location/room1'], T0 + 40 * MINUTE, T0 + 45 * MINUTE)).toEqual([]);
        expect(await busy(['Practitioner/p1', 'Practitioner/p2'], T0, T0 + 3 * HOUR)).toEqual(['ap1', 'ap2', 'ap3']);
        expect(await busy(['Practitioner/p1'], T0 + HOUR, T0 + 90 * MINUTE)).toEqual([]);
        // One element must satisfy all three conditions: the room's long block does not make p9 busy.
        const mixed = appointmentWrite('ap4', ['Practitioner/p9', 'Location/room9'], T0, T0 + 30 * MINUTE);
        await store().commit([
          {
            ...mixed,
            s: {
              ...mixed.s,
              _block: [
                { a: 'Practitioner/p9', lo: T0, hi: T0 + 30 * MINUTE },
                { a: 'Location/room9', lo: T0, hi: T0 + 2 * HOUR },
              ],
            },
          },
        ]);
        expect(await busy(['Practitioner/p9'], T0 + HOUR, T0 + 90 * MINUTE)).toEqual([]);
        expect(await busy(['Location/room9'], T0 + HOUR, T0 + 90 * MINUTE)).toEqual(['ap4']);
      });

      test('$or is the union of its clauses, also mixing dates and tokens', async () => {
        await seed();
        expect(
          await findIds('Slot', {
            filter: { $and: [{ $or: [{ 's.schedule': { $in: ['Schedule/s3'] } }, within('start', day(2), day(3))] }] },
          }),
        ).toEqual(['s1-d2', 's3-d0']);
        // R4 `ne` on a date: some range outside [day 1, day 2).
        expect(
          await findIds('Slot', {
            filter: {
              $and: [
                { 's.schedule': { $in: ['Schedule/s1'] } },
                { $or: [{ 's.start': { $elemMatch: { lo: { $lt: day(1) } } } }, { 's.start': { $elemMatch: { hi: { $gt: day(2) } } } }] },
              ],
            },
          }),
        ).toEqual(['s1-d0', 's1-d2']);
      });

      test('$nin, $exists and $regex are evaluated too ($nin and $exists:false also match a missing value)', async () => {
        await seed();
        expect(await findIds('Slot', { filter: { $and: [{ 's.status': { $nin: ['free'] } }] } })).toEqual(['s1-d1', 's2-d1']);
        expect(await findIds('Slot', { filter: { $and: [{ 's.service-type': { $nin: ['124'] } }] } })).toEqual([
          's1-d1',
          's1-d2',
          's2-d0',
          's2-d1',
          's3-d0',
        ]);
        expect(await findIds('Slot', { filter: { $and: [{ 's.service-type': { $exists: true } }] } })).toEqual(['s1-d0', 's1-d2']);
        expect(await findIds('Slot', { filter: { $and: [{ 's.comment': { $exists: false } }, { 's.schedule': { $in: ['Schedule/s2'] } }] } })).toEqual([
          's2-d1',
        ]);
        expect(await findIds('Slot', { filter: { $and: [{ 's.comment': { $regex: '^morn' } }] } })).toEqual(['s2-d0']);
        expect(await findIds('Slot', { filter: { $and: [{ 's.comment': { $regex: '(?:^|\\s)clin' } }] } })).toEqual(['s2-d0']);
        expect(await findIds('Slot', { filter: { $and: [{ _id: { $nin: ['s1-d0', 's1-d1', 's1-d2'] } }] } })).toEqual([
          's2-d0',
          's2-d1',
          's3-d0',
        ]);
      });

      test('a tombstone matches no filter, not even one on its former values or its id', async () => {
        await seed();
        expect(await findIds('Slot', { filter: { $and: [{ _id: { $in: ['gone'] } }] } })).toEqual([]);
        expect(await findIds('Slot', { filter: { $and: [within('start', day(0), day(0) + 1000)] } })).toEqual(['s1-d0']);
        expect(await findIds('Slot', { filter: { $and: [{ 's.status': { $exists: false } }] } })).toEqual([]);
      });

      test('sorts by several keys, ascending and descending, then by _id', async () => {
        await seed();
        expect(await findIds('Slot', { sort: [['o.start', -1]] })).toEqual(['s1-d2', 's2-d1', 's1-d1', 's3-d0', 's2-d0', 's1-d0']);
        await store().commit([slotWrite({ id: 'dup', schedule: 'Schedule/s9', start: day(0) })]);
        expect(await findIds('Slot', { sort: [['o.start', 1]], limit: 3 })).toEqual(['dup', 's1-d0', 's2-d0']);
        expect(
          await findIds('Slot', {
            sort: [
              ['o.start', 1],
              ['_id', -1],
            ],
            limit: 3,
          }),
        ).toEqual(['s1-d0', 'dup', 's2-d0']);
        expect(
          await findIds('Slot', {
            filter: { $and: [{ 's.start': { $elemMatch: { lo: { $lt: day(1) } } } }] },
            sort: [
              ['lastUpdated', -1],
              ['o.start', -1],
            ],
          }),
        ).toEqual(['s3-d0', 's2-d0', 'dup', 's1-d0']);
      });

      test('a missing sort value sorts first ascending and last descending', async () => {
        await seed();
        const noStart = slotWrite({ id: 'nostart', start: day(5) });
        await store().commit([{ ...noStart, o: {} }]);
        const ascending = await findIds('Slot', { sort: [['o.start', 1]] });
        expect(ascending[0]).toBe('nostart');
        const descending = await findIds('Slot', { sort: [['o.start', -1]] });
        expect(descending[descending.length - 1]).toBe('nostart');
      });

      test('skip and limit page the sorted matches; count reports all matches; limit 0 only counts', async () => {
        await seed();
        const sort: StoreQuery['sort'] = [['o.start', 1]];
        const page = await store().find('Slot', { filter: {}, sort, skip: 2, limit: 2, count: true });
        expect(ids(page.documents)).toEqual(['s3-d0', 's1-d1']);
        expect(page.total).toBe(6);
        const countOnly = await store().find('Slot', {
          filter: { $and: [{ 's.schedule': { $in: ['Schedule/s1'] } }] },
          limit: 0,
          count: true,
        });
        expect(countOnly).toEqual({ documents: [], total: 3 });
        const pastTheEnd = await store().find('Slot', { filter: {}, skip: 10, count: true });
        expect(pastTheEnd).toEqual({ documents: [], total: 6 });
        expect((await store().find('Slot', { filter: {}, limit: 1 })).total).toBeUndefined();
      });

      test('filters see the current version only', async () => {
        await seed();
        await store().commit([slotWrite({ id: 's1-d0', versionId: 2, status: 'busy', start: day(0) })]);
        expect(await findIds('Slot', { filter: { $and: [{ 's.status': { $in: ['free'] } }, within('start', day(0), day(1))] } })).toEqual([
          's2-d0',
          's3-d0',
        ]);
        expect(await findIds('Slot', { filter: { $and: [{ 's.status': { $in: ['busy'] } }] } })).toEqual(['s1-d0', 's1-d1']);
      });
    });

    describe('commit', () => {
      test('a multi-write commit with one stale previousVersionId writes nothing', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        await expectConflict(
          store().commit([
            slotWrite({ id: 'b' }),
            scheduleWrite('s1', 'Practitioner/p1'),
            slotWrite({ id: 'a', versionId: 3, previousVersionId: 2, status: 'busy' }),
          ]),
        );
        expect(await store().read('Slot', 'b')).toBeUndefined();
        expect(await store().read('Schedule', 's1')).toBeUndefined();
        expect((await store().read('Slot', 'a'))?.versionId).toBe(1);
        expect((await store().history('Slot', undefined, { skip: 0, limit: 10 })).total).toBe(1);
      });

      test('a multi-write commit across types lands completely', async () => {
        await store().commit([
          appointmentWrite('ap1', ['Practitioner/p1'], T0, T0 + HOUR),
          slotWrite({ id: 'a', status: 'busy' }),
          scheduleWrite('s1', 'Practitioner/p1'),
        ]);
        expect((await store().read('Appointment', 'ap1'))?.versionId).toBe(1);
        expect((await store().read('Slot', 'a'))?.versionId).toBe(1);
        expect((await store().read('Schedule', 's1'))?.versionId).toBe(1);
      });

      test('many parallel commits all land', async () => {
        const n = 100;
        await Promise.all(Array.from({ length: n }, (_, i) => store().commit([slotWrite({ id: `p${i}`, start: T0 + i * HOUR })])));
        const all = await store().find('Slot', { filter: {}, limit: 0, count: true });
        expect(all.total).toBe(n);
        await Promise.all(
          Array.from({ length: n }, (_, i) => store().commit([slotWrite({ id: `p${i}`, versionId: 2, status: 'busy', start: T0 + i * HOUR })])),
        );
        expect((await store().find('Slot', { filter: { $and: [{ 's.status': { $in: ['busy'] } }] }, limit: 0, count: true })).total).toBe(n);
        expect((await store().history('Slot', undefined, { skip: 0, limit: 1 })).total).toBe(2 * n);
      });
    });

    describe('transaction', () => {
      test('commits the planned writes and returns the result; fn reads the current state', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        const result = await store().transaction(['Schedule/s1'], async (reader) => {
          const current = await reader.read('Slot', 'a');
          const free = await reader.find('Slot', { filter: { $and: [{ 's.status': { $in: ['free'] } }] }, count: true });
          return {
            writes: [slotWrite({ id: 'a', versionId: (current?.versionId ?? 0) + 1, status: 'busy' })],
            result: { sawVersion: current?.versionId, free: free.total },
          };
        });
        expect(result).toEqual({ sawVersion: 1, free: 1 });
        expect((await store().read('Slot', 'a'))?.s['status']).toEqual(['busy']);
      });

      test('a FhirError thrown by fn propagates unchanged and nothing is written', async () => {
        const thrown = await store()
          .transaction(['Practitioner/p1'], async () => {
            throw conflict('Slot Slot/a is taken');
          })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(isFhirError(thrown)).toBe(true);
        if (isFhirError(thrown)) expect(thrown.outcome.issue[0]?.diagnostics).toBe('Slot Slot/a is taken');
        expect(await store().find('Slot', { filter: {}, limit: 0, count: true })).toEqual({ documents: [], total: 0 });
      });

      test('a transaction whose writes conflict is a 409 and writes nothing', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        await expectConflict(
          store().transaction([], async () => ({
            writes: [slotWrite({ id: 'b' }), slotWrite({ id: 'a', versionId: 2, previousVersionId: 5 })],
            result: undefined,
          })),
        );
        expect(await store().read('Slot', 'b')).toBeUndefined();
      });

      test('a transaction with no writes just returns its result', async () => {
        expect(await store().transaction([], async () => ({ writes: [], result: 42 }))).toBe(42);
      });

      test('two concurrent transactions that check-then-book the same free slot: exactly one wins', async () => {
        await store().commit([slotWrite({ id: 'a' })]);
        const book = (appointmentId: string): Promise<string> =>
          store().transaction(['Schedule/s1'], async (reader) => {
            const slot = await reader.read('Slot', 'a');
            if (slot === undefined || slot.s['status']?.[0] !== 'free') throw conflict('Slot/a is not free');
            await new Promise((resolve) => setTimeout(resolve, 5));
            return {
              writes: [
                slotWrite({ id: 'a', versionId: slot.versionId + 1, status: 'busy' }),
                appointmentWrite(appointmentId, ['Practitioner/p1'], T0, T0 + 15 * MINUTE),
              ],
              result: appointmentId,
            };
          });
        const outcomes = await Promise.allSettled([book('ap1'), book('ap2'), book('ap3')]);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(2);
        for (const o of lost) expect(isFhirError(o.reason) && o.reason.status === 409).toBe(true);
        expect((await store().read('Slot', 'a'))?.versionId).toBe(2);
        expect((await store().find('Appointment', { filter: {}, limit: 0, count: true })).total).toBe(1);
      });

      test('many concurrent transactions incrementing one resource serialise without lost updates', async () => {
        await store().commit([slotWrite({ id: 'counter' })]);
        const n = 20;
        await Promise.all(
          Array.from({ length: n }, () =>
            store().transaction(['counter'], async (reader) => {
              const current = await reader.read('Slot', 'counter');
              const versionId = (current?.versionId ?? 0) + 1;
              return { writes: [slotWrite({ id: 'counter', versionId, lastUpdated: T0 + versionId })], result: versionId };
            }),
          ),
        );
        expect((await store().read('Slot', 'counter'))?.versionId).toBe(n + 1);
        expect((await store().history('Slot', 'counter', { skip: 0, limit: 100 })).total).toBe(n + 1);
      });
    });

    test('ping resolves while the store is open', async () => {
      await expect(store().ping()).resolves.toBeUndefined();
    });
  });
}
