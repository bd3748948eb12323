import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEmbeddedStore } from '../../src/store/embedded/embedded-store';
import type { Entry } from '../../src/store/embedded/entry';
import { encodeRecord, listSegments, RecordBuilder, segmentFileName } from '../../src/store/embedded/journal';
import { cloneJson, deepFreeze } from '../../src/fhir/json-values';
import { LruCache } from '../../src/store/embedded/lru-cache';
import { HistoryLog } from '../../src/store/embedded/history-log';
import type { IndexKeys } from '../../src/store/embedded/indexes';
import { listSnapshots, loadSnapshot, snapshotFileName, writeSnapshot } from '../../src/store/embedded/snapshot';
import type { ResourceType } from '../../src/fhir/resource-types';
import { decodeWriteMeta, decodeWriteResource, encodeWrite } from '../../src/store/embedded/write-codec';
import { nextVersion } from '../../src/store/resource-write';
import type { StoredFhirResource } from '../../src/fhir/resource-types';
import { slotWrite } from './store-contract';

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MINUTE = 60_000;

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-embedded-perf-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('LruCache', () => {
  test('holds at most its capacity and drops the generation not used since the last turnover', () => {
    const cache = new LruCache<string, number>(4);
    cache.set('a', 1);
    cache.set('b', 2); // the young generation is full (2 of 4): it becomes the old one
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // an old hit moves back into the young generation, which turns over again
    expect(cache.get('b')).toBeUndefined(); // b was not used: dropped with the previous old generation
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBeLessThanOrEqual(4);
  });

  test('a long run of new keys never holds more than the capacity', () => {
    const cache = new LruCache<number, number>(100);
    for (let i = 0; i < 10_000; i++) {
      cache.set(i, i);
      expect(cache.size).toBeLessThanOrEqual(100);
    }
    expect(cache.get(9_999)).toBe(9_999);
    expect(cache.get(0)).toBeUndefined();
  });
});

describe('cloneJson and deepFreeze', () => {
  test('cloneJson returns an equal value that shares no object with the original', () => {
    const original = { a: [1, { b: 'x' }], c: { d: null, e: true } };
    const copy = cloneJson(original);
    expect(copy).toEqual(original);
    expect(copy.a).not.toBe(original.a);
    expect(copy.a[1]).not.toBe(original.a[1]);
    expect(copy.c).not.toBe(original.c);
  });

  test('deepFreeze freezes nested objects and arrays', () => {
    const value = deepFreeze({ a: [{ b: 1 }] });
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.a)).toBe(true);
    expect(Object.isFrozen(value.a[0])).toBe(true);
  });
});

describe('write and snapshot encodings', () => {
  test('encodeWrite writes the head JSON.stringify would, and it decodes back', () => {
    const write = slotWrite({ id: 'needs "escaping"\\', versionId: 3, lastUpdated: T0 + 7 });
    const line = encodeWrite(write).line.toString('utf8');
    const head = line.slice(0, line.indexOf('\t'));
    expect(head).toBe(JSON.stringify({ t: 'Slot', id: write.id, v: 3, lu: T0 + 7, m: write.method, o: write.o }));
    expect(decodeWriteMeta(Buffer.from(line))).toMatchObject({ id: write.id, versionId: 3, lastUpdated: T0 + 7, o: write.o, deleted: false });
  });

  test('a record holds each line as UTF-8 at its offset, multi-byte text included', () => {
    const plain = slotWrite({ id: 'plain' });
    const accented = nextVersion('Patient', 'ü', { resourceType: 'Patient', id: 'ü', name: [{ family: 'Παπαδοπούλου 😀' }] } as StoredFhirResource, 'POST', undefined, T0);
    const encoded = [encodeWrite(accented), encodeWrite(plain), encodeWrite(accented)];
    const { record, lineOffsets } = encodeRecord(encoded);
    const lines = record.subarray(8).toString('utf8').split('\n');
    encoded.forEach((e, i) => {
      const at = lineOffsets[i] ?? -1;
      const line = record.subarray(at, at + e.byteLength);
      expect(line.toString('utf8')).toBe(lines[i]);
      expect(line.equals(e.line)).toBe(true);
      expect(decodeWriteResource(line)).toEqual((i === 1 ? plain : accented).resource);
    });
  });
});

describe('record builder', () => {
  test('a reused buffer (smaller than the record, holding an older record) yields the same bytes as a fresh one', () => {
    const plain = slotWrite({ id: 'plain' });
    const accented = nextVersion('Patient', 'ü', { resourceType: 'Patient', id: 'ü', name: [{ family: 'Παπαδοπούλου 😀' }] } as StoredFhirResource, 'POST', undefined, T0);
    const encoded = [encodeWrite(accented), ...Array.from({ length: 30 }, () => encodeWrite(plain)), encodeWrite(accented)];
    const fresh = encodeRecord(encoded);
    const older = new RecordBuilder(Buffer.alloc(64, 0xff));
    for (const e of encoded.slice(0, 3)) older.add(e.text);
    older.finish();
    const reused = older.reusableBuffer;
    expect(reused).toBeDefined();
    const builder = new RecordBuilder(reused);
    for (const e of encoded) builder.add(e.text);
    const record = builder.finish();
    expect(record.equals(fresh.record)).toBe(true);
    expect(builder.lineOffsets).toEqual(fresh.lineOffsets);
    expect(builder.lineLengths).toEqual(encoded.map((e) => e.byteLength));
    // A shorter record next, in the grown buffer: the older bytes after it are not part of it.
    const next = new RecordBuilder(builder.reusableBuffer);
    next.add(encoded[1]?.text ?? '');
    expect(next.finish().equals(encodeRecord([encoded[1] ?? encodeWrite(plain)]).record)).toBe(true);
  });
});

describe('snapshot format', () => {
  const entries: Entry[] = [
    { _id: 'a"b', versionId: 2, lastUpdated: T0, deleted: false, searchJson: '{"x":["y"]}', o: { start: T0, n: 'z', neg: -1.5 }, ranges: [0, T0, T0 + 1000, 1, -8.64e15, 8.64e15], h: [0, 2] },
    { _id: 'gone', versionId: 4, lastUpdated: T0 + 1, deleted: true, searchJson: '{}', o: {}, ranges: undefined, h: 3 },
    // Not ASCII: the ids of its chunk are stored as UTF-8, and lengths count UTF-16 units.
    { _id: 'ünï-😀', versionId: 1, lastUpdated: T0 + 2, deleted: false, searchJson: '{"t":["Zürich 😀"]}', o: { n: 'ü' }, ranges: undefined, h: 1 },
  ];
  const keys: IndexKeys[] = [
    { code: 'status', key: 'free', ids: ['ünï-😀', 'a"b'] },
    { code: 'schedule', key: 'Schedule/1', ids: ['a"b'] },
  ];

  async function written(dir: string, segment: number): Promise<string> {
    const history = new HistoryLog();
    history.push('a"b', 1, T0 - 5, 10, 100);
    history.push('ünï-😀', 1, T0 + 2, 20, 200);
    history.push('a"b', 2, T0, 30, 300);
    history.push('gone', 4, T0 + 1, 40, 400);
    await writeSnapshot(dir, { segment, types: [{ type: 'Slot', entries, history: history.capture(), keys }] });
    return path.join(dir, snapshotFileName(segment));
  }

  function load(file: string): { segment: number; documents: Entry[]; keys: IndexKeys[]; history: number[][] } {
    const documents: Entry[] = [];
    const loadedKeys: IndexKeys[] = [];
    const history: number[][] = [];
    // The journal lines' `s` texts, by history position (the entries' current ones).
    const texts = new Map(entries.map((e) => [Array.isArray(e.h) ? e.h[e.h.length - 1] : e.h, e.searchJson]));
    const { segment } = loadSnapshot(file, {
      source: () => ({ searchJsonAt: (position) => texts.get(position) ?? 'missing' }),
      history(type: ResourceType, versionIds, lastUpdated, locations, lengths) {
        expect(type).toBe('Slot');
        for (let i = 0; i < versionIds.length; i++) history.push([versionIds[i] ?? -1, lastUpdated[i] ?? -1, locations[i] ?? -1, lengths[i] ?? -1]);
      },
      document(type, entry) {
        expect(type).toBe('Slot');
        documents.push(entry);
      },
      keys(type, code, key, ordinals) {
        loadedKeys.push({ code, key, ids: Array.from(ordinals, (n) => documents[n]?._id ?? '?') });
      },
    });
    return { segment, documents, keys: loadedKeys, history };
  }

  test('a written snapshot loads back the same entries, history locations and index keys', async () => {
    const dir = tempDir();
    const loaded = load(await written(dir, 7));
    expect(loaded.segment).toBe(7);
    const fields = (e: Entry): Entry => ({ _id: e._id, versionId: e.versionId, lastUpdated: e.lastUpdated, deleted: e.deleted, searchJson: e.searchJson, o: e.o, ranges: e.ranges, h: e.h });
    // `searchJson` comes from the source (the journal line at the current position).
    expect(loaded.documents.map(fields)).toEqual(entries);
    expect(loaded.documents.every((e) => Object.isFrozen(e.o))).toBe(true);
    expect(loaded.keys).toEqual(keys);
    expect(loaded.history).toEqual([
      [1, T0 - 5, 10, 100],
      [1, T0 + 2, 20, 200],
      [2, T0, 30, 300],
      [4, T0 + 1, 40, 400],
    ]);
  });

  test('loaded entries with equal ranges share one array (a clinic\'s Slots share their times)', async () => {
    const dir = tempDir();
    const slot = (id: string, ranges: number[], h: number): Entry => ({ _id: id, versionId: 1, lastUpdated: T0, deleted: false, searchJson: '{}', o: {}, ranges, h });
    const same = [0, T0, T0 + 1000, 1, T0 + 15 * MINUTE, T0 + 15 * MINUTE + 1000];
    const other = [0, T0, T0 + 1000, 1, T0 + 30 * MINUTE, T0 + 30 * MINUTE + 1000];
    const written = [slot('a', [...same], 0), slot('b', [...same], 1), slot('c', [...other], 2)];
    const history = new HistoryLog();
    for (const e of written) history.push(e._id, 1, T0, 10, 100);
    await writeSnapshot(dir, { segment: 2, types: [{ type: 'Slot', entries: written, history: history.capture(), keys: [] }] });
    const documents: Entry[] = [];
    loadSnapshot(path.join(dir, snapshotFileName(2)), {
      source: () => ({ searchJsonAt: () => '{}' }),
      history: () => undefined,
      document: (_type, entry) => documents.push(entry),
      keys: () => undefined,
    });
    const [a, b, c] = documents;
    expect([a?.ranges, b?.ranges, c?.ranges]).toEqual([same, same, other]);
    expect(b?.ranges).toBe(a?.ranges);
    expect(c?.ranges).not.toBe(a?.ranges);
  });

  test('a truncated or corrupted snapshot is refused; a newer one replaces older and version-1 files', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'snapshot-00000003.jsonl'), '{"format":"kairos-embedded-snapshot","version":1,"segment":3}\n');
    const older = await written(dir, 5);
    const file = await written(dir, 6);
    expect(fs.existsSync(older)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([snapshotFileName(6)]);
    const bytes = fs.readFileSync(file);
    for (const cut of [10, 40, bytes.length - 1]) {
      fs.writeFileSync(file, bytes.subarray(0, cut));
      expect(() => load(file)).toThrow(/snapshot .* is invalid/);
    }
    const flipped = Buffer.from(bytes);
    const at = flipped.indexOf('gone');
    flipped[at] = 'G'.charCodeAt(0);
    fs.writeFileSync(file, flipped);
    expect(() => load(file)).toThrow(/checksum/);
    fs.writeFileSync(file, Buffer.concat([bytes, Buffer.from([0])]));
    expect(() => load(file)).toThrow(/snapshot .* is invalid/);
  });
});

describe('nextVersion', () => {
  test('sets id, versionId and lastUpdated without changing the caller object', () => {
    const resource = { resourceType: 'Slot', meta: { tag: [{ code: 't' }] }, status: 'free' } as unknown as StoredFhirResource;
    const before = JSON.stringify(resource);
    const write = nextVersion('Slot', 'x', resource, 'POST', undefined, T0);
    const later = nextVersion('Slot', 'y', resource, 'POST', undefined, T0 + 1);
    expect(JSON.stringify(resource)).toBe(before);
    expect(write.resource).toMatchObject({ id: 'x', meta: { versionId: '1', lastUpdated: new Date(T0).toISOString(), tag: [{ code: 't' }] } });
    expect(later.resource?.meta?.lastUpdated).toBe(new Date(T0 + 1).toISOString());
  });
});

describe('embedded store: cached reads', () => {
  test('a caller changing a returned resource or its search values does not change what later reads return', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    await store.commit([slotWrite({ id: 'a', serviceType: '124' })]);
    const first = await store.read('Slot', 'a');
    const found = (await store.find('Slot', { filter: { 's.status': { $in: ['free'] } } })).documents[0];
    if (first?.resource == null || found?.resource == null) throw new Error('slot a not returned');
    (first.resource as unknown as { status: string }).status = 'busy';
    if (first.resource.meta !== undefined) first.resource.meta.versionId = '99';
    const firstStatus = first.s['status'];
    if (firstStatus === undefined) throw new Error('no status values');
    firstStatus.push('busy');
    (found.resource as unknown as { serviceType: Array<{ coding: Array<{ code: string }> }> }).serviceType[0]?.coding.push({ code: 'x' });

    const again = await store.read('Slot', 'a');
    expect(again?.resource).toMatchObject({ status: 'free', meta: { versionId: '1' } });
    expect(again?.resource).toMatchObject({ serviceType: [{ coding: [{ code: '124' }] }] });
    expect(again?.s['status']).toEqual(['free']);
    const busy = await store.find('Slot', { filter: { 's.status': { $in: ['busy'] } }, count: true });
    expect(busy.total).toBe(0);
    await store.close();
  });

  test('a read after an update returns the new version, not a cached old one', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    await store.commit([slotWrite({ id: 'a' })]);
    expect((await store.read('Slot', 'a'))?.resource).toMatchObject({ status: 'free' });
    await store.commit([slotWrite({ id: 'a', versionId: 2, status: 'busy' })]);
    const read = await store.read('Slot', 'a');
    expect(read?.versionId).toBe(2);
    expect(read?.resource).toMatchObject({ status: 'busy' });
    expect(read?.s['status']).toEqual(['busy']);
    await store.close();
  });

  test('a residual filter on an unindexed parameter sees the values of each current version', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    await store.commit([slotWrite({ id: 'a', serviceType: '124' }), slotWrite({ id: 'b', serviceType: '125' })]);
    const query = { filter: { 's.service-type': { $in: ['124'] } } };
    expect((await store.find('Slot', query)).documents.map((d) => d._id)).toEqual(['a']);
    await store.commit([slotWrite({ id: 'a', versionId: 2, serviceType: '125' }), slotWrite({ id: 'b', versionId: 2, serviceType: '124' })]);
    expect((await store.find('Slot', query)).documents.map((d) => d._id)).toEqual(['b']);
    await store.close();
  });
});

describe('embedded store: snapshot schedule', () => {
  test('rolls segments over without a new snapshot until the journal since the last one is half its size; recovery replays them all', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const store = await createEmbeddedStore({ dataDir: dir, snapshotEveryBytes: 1024, onBackgroundError: (e) => errors.push(e) });
    const bulk = Array.from({ length: 200 }, (_, i) => slotWrite({ id: `bulk${i}`, start: T0 + i * 15 * MINUTE }));
    await store.commit(bulk);
    await store.snapshot();
    const [snapshot] = listSnapshots(dir);
    if (snapshot === undefined) throw new Error('no snapshot');
    const snapshotBytes = fs.statSync(path.join(dir, snapshotFileName(snapshot))).size;
    const segmentsBefore = listSegments(dir).length;

    // Each commit is a few hundred bytes: far past 1024 bytes several times, far short of half the snapshot.
    const journalSince = (): number =>
      listSegments(dir)
        .filter((n) => n >= snapshot)
        .reduce((sum, n) => sum + fs.statSync(path.join(dir, segmentFileName(n))).size, 0);
    let i = 0;
    while (journalSince() < snapshotBytes / 4) await store.commit([slotWrite({ id: `small${i++}` })]);
    await until(() => listSegments(dir).length > segmentsBefore + 2, 'segments to roll over');
    expect(listSnapshots(dir)).toEqual([snapshot]);

    while (journalSince() < snapshotBytes) await store.commit([slotWrite({ id: `small${i++}` })]);
    await until(() => (listSnapshots(dir)[0] ?? 0) > snapshot, 'a new snapshot');
    expect(errors).toEqual([]);

    const copy = tempDir();
    fs.cpSync(dir, copy, { recursive: true, filter: (source) => path.basename(source) !== 'LOCK' });
    await store.close();
    const recovered = await createEmbeddedStore({ dataDir: copy });
    const all = await recovered.find('Slot', { filter: {}, limit: 0, count: true });
    expect(all.total).toBe(200 + i);
    await recovered.close();
  });
});
