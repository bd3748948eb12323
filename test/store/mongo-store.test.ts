import { randomBytes } from 'node:crypto';
import { BSON, MongoClient, MongoServerError } from 'mongodb';
import { Aggregator, Query } from 'mingo';
import type { Slot } from 'fhir/r4';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types';
import type { ResourceDocument, ResourceWrite } from '../../src/store/store';
import {
  findSort,
  historyFilter,
  historyId,
  historySort,
  liveFilter,
  toHistoryDocument,
  toHistoryEntry,
  toResourceDocument,
} from '../../src/store/mongo/documents';
import type { HistoryDocument } from '../../src/store/mongo/documents';
import {
  databaseNameFromUri,
  deploymentProblem,
  isDuplicateKeyError,
  isTransientTransactionError,
  isUnknownCommitResult,
  redactUri,
} from '../../src/store/mongo/errors';
import { HISTORY_INDEXES, collectionIndexes, resourceIndexes } from '../../src/store/mongo/indexes';
import { leaseUpdate } from '../../src/store/mongo/lease';
import { createMongoStore } from '../../src/store/mongo/mongo-store';
import type { MongoStore } from '../../src/store/mongo/mongo-store';
import { describeStoreContract } from './store-contract';

const mongodbUri = process.env['MONGODB_URI'];

if (mongodbUri === undefined || mongodbUri === '') {
  console.info('MongoDB contract suite skipped: MONGODB_URI not set');
  test.skip('MongoDB store contract suite (set MONGODB_URI to a MongoDB 6+ replica set to run it)', () => undefined);
} else {
  // One database for the whole file, emptied after each test and dropped at the end: creating a
  // database with every collection and index per test would make the 80-odd contract tests slow.
  const dbName = `kairos_test_${randomBytes(6).toString('hex')}`;
  let shared: { store: MongoStore; client: MongoClient } | undefined;
  const openShared = async (): Promise<{ store: MongoStore; client: MongoClient }> => {
    if (shared === undefined) {
      const store = await createMongoStore({ uri: mongodbUri, dbName });
      const client = await new MongoClient(mongodbUri).connect();
      shared = { store, client };
    }
    return shared;
  };
  describeStoreContract('MongoDB store', async () => {
    const { store, client } = await openShared();
    return {
      store,
      cleanup: async () => {
        for (const name of collectionIndexes().keys()) await client.db(dbName).collection(name).deleteMany({});
      },
    };
  });
  afterAll(async () => {
    if (shared === undefined) return;
    await shared.store.dropDatabase();
    await shared.store.close();
    await shared.client.close();
  });
}

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MAX_TIME = 8.64e15;

function slotWrite(overrides: Partial<ResourceWrite> = {}): ResourceWrite {
  const slot: Slot & { id: string } = {
    resourceType: 'Slot',
    id: 'slot-1',
    meta: { versionId: '2', lastUpdated: new Date(T0).toISOString() },
    schedule: { reference: 'Schedule/s1' },
    status: 'free',
    start: '2025-01-06T09:00:00Z',
    end: '2025-01-06T09:15:00Z',
    extension: [{ url: 'https://kairos.dev/fhir/StructureDefinition/x', valueDecimal: 1.5 }],
  };
  return {
    resourceType: 'Slot',
    id: 'slot-1',
    method: 'PUT',
    resource: slot,
    versionId: 2,
    lastUpdated: T0,
    s: {
      schedule: ['Schedule/s1'],
      status: ['free'],
      start: [{ lo: T0, hi: T0 + 1000 }],
      date: [{ lo: -MAX_TIME, hi: MAX_TIME }],
      _lastUpdated: [{ lo: T0, hi: T0 + 1 }],
    },
    o: { start: T0, _lastUpdated: T0 },
    previousVersionId: 1,
    ...overrides,
  };
}

describe('MongoDB document mapping', () => {
  test('stores a write as the ResourceDocument of store.ts with the resource id as _id', () => {
    const write = slotWrite();
    expect(toResourceDocument(write)).toEqual({
      _id: 'slot-1',
      versionId: 2,
      lastUpdated: T0,
      deleted: false,
      resource: write.resource,
      s: write.s,
      o: write.o,
    });
  });

  test('stores a delete as a tombstone with no resource', () => {
    const document = toResourceDocument(slotWrite({ method: 'DELETE', resource: null, s: {}, o: {} }));
    expect(document.deleted).toBe(true);
    expect(document.resource).toBeNull();
  });

  test('keys a history entry by type, id and version and maps it back to a HistoryEntry', () => {
    const write = slotWrite();
    const document = toHistoryDocument(write);
    expect(document._id).toBe('Slot/slot-1/2');
    expect(document._id).toBe(historyId('Slot', 'slot-1', 2));
    expect(toHistoryEntry(document)).toEqual({
      resourceType: 'Slot',
      id: 'slot-1',
      versionId: 2,
      lastUpdated: T0,
      method: 'PUT',
      resource: write.resource,
    });
  });

  test('a document survives BSON serialisation exactly, including ±8.64e15 and decimals', () => {
    const document = toResourceDocument(slotWrite());
    const roundTripped = BSON.deserialize(BSON.serialize(document, { ignoreUndefined: true }));
    expect(roundTripped).toEqual(document);
    expect(roundTripped['s']).toEqual({ ...document.s, date: [{ lo: -8.64e15, hi: 8.64e15 }] });
  });
});

describe('MongoDB find and history queries (evaluated with mingo, as the embedded store does)', () => {
  const live = (id: string, status: string): ResourceDocument => ({
    ...toResourceDocument(slotWrite({ id })),
    s: { status: [status] },
  });
  const tombstone = (id: string): ResourceDocument => ({ ...live(id, 'free'), deleted: true, resource: null });

  test('never returns tombstones, even when the search filter asks for deleted documents', () => {
    const documents = [live('a', 'free'), tombstone('b'), live('c', 'busy')];
    const ids = (filter: Record<string, unknown>): string[] =>
      new Query(liveFilter(filter))
        .find<ResourceDocument>(documents)
        .all()
        .map((d) => d._id);
    expect(ids({})).toEqual(['a', 'c']);
    expect(ids({ 's.status': { $in: ['free'] } })).toEqual(['a']);
    expect(ids({ deleted: true })).toEqual([]);
  });

  test('breaks sort ties on _id ascending, as the embedded store does', () => {
    expect(findSort(undefined)).toEqual([['_id', 1]]);
    expect(findSort([['o.start', 1]])).toEqual([
      ['o.start', 1],
      ['_id', 1],
    ]);
    expect(findSort([['o.start', -1]])).toEqual([
      ['o.start', -1],
      ['_id', 1],
    ]);
    expect(findSort([['_id', -1]])).toEqual([['_id', -1]]);
  });

  const version = (type: 'Slot' | 'Schedule', id: string, versionId: number, lastUpdated: number): HistoryDocument =>
    toHistoryDocument(
      slotWrite({ resourceType: type, id, versionId, lastUpdated, method: versionId === 1 ? 'POST' : 'PUT' }),
    );
  const history = [
    version('Slot', 'a', 1, 100),
    version('Slot', 'a', 2, 200),
    version('Slot', 'a', 3, 200),
    version('Slot', 'b', 1, 150),
    version('Schedule', 'a', 1, 300),
  ];
  const run = (id: string | undefined, since?: number, at?: number): string[] => {
    const sort = historySort(id);
    const sortObject = Object.fromEntries(Array.isArray(sort) ? sort : []) as Record<string, 1 | -1>;
    return new Query(historyFilter('Slot', id, { since, at }))
      .find<HistoryDocument>(history)
      .sort(sortObject)
      .all()
      .map((d) => d._id);
  };

  test('lists an instance history newest version first, also when two versions share a millisecond', () => {
    expect(run('a')).toEqual(['Slot/a/3', 'Slot/a/2', 'Slot/a/1']);
  });

  test('lists a type history newest first and only for that type', () => {
    expect(run(undefined)).toEqual(['Slot/a/3', 'Slot/a/2', 'Slot/b/1', 'Slot/a/1']);
  });

  test('applies _since (inclusive) and _at (inclusive) to lastUpdated', () => {
    expect(run(undefined, 150)).toEqual(['Slot/a/3', 'Slot/a/2', 'Slot/b/1']);
    expect(run(undefined, undefined, 150)).toEqual(['Slot/b/1', 'Slot/a/1']);
    expect(run('a', 101, 199)).toEqual([]);
  });
});

describe('MongoDB indexes', () => {
  const all = collectionIndexes();

  test('declares every resource type, history, locks and leases', () => {
    expect([...all.keys()].sort()).toEqual([...RESOURCE_TYPES, 'history', 'leases', 'locks'].sort());
  });

  test('never compounds two different search-index arrays (MongoDB rejects parallel arrays on insert)', () => {
    for (const [collection, specs] of all) {
      for (const spec of specs) {
        const arrays = new Set(
          Object.keys(spec.key)
            .filter((field) => field.startsWith('s.'))
            .map((field) => field.split('.')[1]),
        );
        expect({ collection, index: spec.name, arrays: arrays.size <= 1 }).toEqual({
          collection,
          index: spec.name,
          arrays: true,
        });
      }
    }
  });

  test('gives every index a name that is unique within its collection', () => {
    for (const specs of all.values()) {
      const names = specs.map((s) => s.name);
      expect(new Set(names).size).toBe(names.length);
    }
  });

  test('indexes the fields the booking engine and the generator query most', () => {
    const keys = (type: (typeof RESOURCE_TYPES)[number]): string[] =>
      resourceIndexes(type).map((s) => Object.keys(s.key).join(','));
    expect(keys('Slot')).toEqual(expect.arrayContaining(['s.schedule,o.start,_id', 's.start.lo', 's.status']));
    expect(keys('Appointment')).toEqual(
      expect.arrayContaining(['s.actor', 's._block.a,s._block.lo,s._block.hi', 's.slot', 's.patient', 's.date.lo']),
    );
    expect(keys('Schedule')).toContain('s.actor');
    for (const type of RESOURCE_TYPES) expect(keys(type)).toContain('s.identifier');
    expect(HISTORY_INDEXES.map((s) => s.key)).toEqual([
      { type: 1, id: 1, versionId: -1 },
      { type: 1, lastUpdated: -1, id: -1, versionId: -1 },
    ]);
  });
});

describe('MongoDB leases (the update pipeline, evaluated with mingo)', () => {
  const ttlMs = 60_000;
  const apply = (lease: Record<string, unknown>, holder: string): Record<string, unknown> => {
    const [updated] = new Aggregator(leaseUpdate(holder, ttlMs)).run([lease]);
    if (updated === undefined) throw new Error('pipeline dropped the document');
    return updated as Record<string, unknown>;
  };
  const expiresIn = (lease: Record<string, unknown>): number => {
    const expiresAt = lease['expiresAt'];
    if (!(expiresAt instanceof Date)) throw new Error('expiresAt is not a date');
    return expiresAt.getTime() - Date.now();
  };

  test('grants a lease nobody has taken yet (the upserted document has only _id)', () => {
    const lease = apply({ _id: 'slot-generator' }, 'p1');
    expect(lease['holder']).toBe('p1');
    expect(expiresIn(lease)).toBeGreaterThan(ttlMs - 5000);
  });

  test('leaves a lease another holder still holds untouched', () => {
    const held = { _id: 'slot-generator', holder: 'p1', expiresAt: new Date(Date.now() + 30_000) };
    expect(apply({ ...held }, 'p2')).toEqual(held);
  });

  test('hands an expired lease to the next holder', () => {
    const lease = apply({ _id: 'slot-generator', holder: 'p1', expiresAt: new Date(Date.now() - 1) }, 'p2');
    expect(lease['holder']).toBe('p2');
    expect(expiresIn(lease)).toBeGreaterThan(ttlMs - 5000);
  });

  test('renews the lease of its current holder', () => {
    const lease = apply({ _id: 'slot-generator', holder: 'p1', expiresAt: new Date(Date.now() + 1000) }, 'p1');
    expect(lease['holder']).toBe('p1');
    expect(expiresIn(lease)).toBeGreaterThan(ttlMs - 5000);
  });

  test('stores a holder that looks like a field path as a plain string', () => {
    expect(apply({ _id: 'slot-generator' }, '$holder')['holder']).toBe('$holder');
  });

  test('rejects a non-positive ttl', () => {
    expect(() => leaseUpdate('p1', 0)).toThrow(RangeError);
  });
});

describe('MongoDB deployment checks and errors', () => {
  test('refuses a standalone server, explaining that a replica set is needed', () => {
    expect(deploymentProblem({ isWritablePrimary: true, maxWireVersion: 21 })).toMatch(/replica set/);
  });

  test('accepts a replica set member or a mongos of MongoDB 6+', () => {
    expect(deploymentProblem({ setName: 'rs0', maxWireVersion: 17 })).toBeUndefined();
    expect(deploymentProblem({ msg: 'isdbgrid', maxWireVersion: 25 })).toBeUndefined();
  });

  test('refuses a server older than MongoDB 6.0', () => {
    expect(deploymentProblem({ setName: 'rs0', maxWireVersion: 13 })).toMatch(/6\.0/);
  });

  test('takes the database name from the URI path, if any', () => {
    expect(databaseNameFromUri('mongodb://h1:27017,h2:27017/kairos?replicaSet=rs0')).toBe('kairos');
    expect(databaseNameFromUri('mongodb+srv://u:p@cluster.example.net/prod')).toBe('prod');
    expect(databaseNameFromUri('mongodb://localhost:27017/?replicaSet=rs0')).toBeUndefined();
    expect(databaseNameFromUri('mongodb://localhost:27017')).toBeUndefined();
  });

  test('hides the password when showing a URI', () => {
    expect(redactUri('mongodb://kairos:s3cret@db:27017/kairos')).toBe('mongodb://kairos:***@db:27017/kairos');
    expect(redactUri('mongodb://db:27017/kairos')).toBe('mongodb://db:27017/kairos');
  });

  test('classifies server errors by code and label', () => {
    const duplicate = new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 });
    const writeConflict = new MongoServerError({
      message: 'WriteConflict',
      code: 112,
      errorLabels: ['TransientTransactionError'],
    });
    const unknownCommit = new MongoServerError({
      message: 'not primary',
      code: 10107,
      errorLabels: ['UnknownTransactionCommitResult'],
    });
    expect([isDuplicateKeyError(duplicate), isDuplicateKeyError(writeConflict)]).toEqual([true, false]);
    expect([isTransientTransactionError(writeConflict), isTransientTransactionError(duplicate)]).toEqual([true, false]);
    expect([isUnknownCommitResult(unknownCommit), isUnknownCommitResult(new Error('x'))]).toEqual([true, false]);
  });

  test('fails fast with a clear message, and no password, when no server answers', async () => {
    const start = Date.now();
    const opening = createMongoStore({
      uri: 'mongodb://kairos:s3cret@127.0.0.1:9/kairos?replicaSet=rs0',
      serverSelectionTimeoutMs: 300,
    });
    await expect(opening).rejects.toThrow(/MongoDB store: cannot connect to mongodb:\/\/kairos:\*\*\*@127\.0\.0\.1:9/);
    await expect(opening).rejects.not.toThrow(/s3cret/);
    expect(Date.now() - start).toBeLessThan(5000);
  });
});
