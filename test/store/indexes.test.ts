import { slotWrite } from './store-contract';
import { EMPTY_SORT_KEYS, SharedRanges } from '../../src/store/embedded/entry';
import type { Entry } from '../../src/store/embedded/entry';
import { INDEXED_PARAMETERS, TypeIndexes } from '../../src/store/embedded/indexes';

/*
 * A hash key loaded from a snapshot keeps its id list until first used (start-up at 1,000,000
 * Slots built a Set of ~1M ids for `status=free` before the first request). Pin down that the
 * deferred Set holds exactly the loaded ids, whichever path reaches it first.
 */

/** An entry as the store installs it, with the given date ranges. */
function bare(id: string, h: number, ranges?: readonly number[]): Entry {
  return { _id: id, versionId: 1, lastUpdated: 0, deleted: false, searchJson: '{}', o: EMPTY_SORT_KEYS, ranges, h };
}

function loaded(): TypeIndexes {
  const indexes = new TypeIndexes(INDEXED_PARAMETERS.Slot);
  const entries: Entry[] = ['a', 'b', 'c', 'd'].map((id, h) => bare(id, h));
  indexes.loadKeys('status', 'free', Uint32Array.of(0, 1, 2), entries);
  indexes.loadKeys('status', 'busy', Uint32Array.of(3), entries);
  return indexes;
}

function statusKeys(indexes: TypeIndexes): NonNullable<ReturnType<TypeIndexes['hash']['get']>>['keys'] {
  const status = indexes.hash.get('status');
  if (status === undefined) throw new Error('Slot status is hash-indexed');
  return status.keys;
}

describe('hash index keys loaded from a snapshot', () => {
  test('stay lists until used; the first lookup builds the Set of exactly the loaded ids', () => {
    const keys = statusKeys(loaded());
    expect(keys.isPending('free')).toBe(true);
    expect([...(keys.get('free') ?? [])]).toEqual(['a', 'b', 'c']);
    expect(keys.isPending('free')).toBe(false);
    expect(keys.isPending('busy')).toBe(true);
  });

  test('a write to a pending key sees the loaded ids (add and remove)', () => {
    const indexes = loaded();
    indexes.remove(bare('b', 1), { status: ['free'] });
    indexes.add(bare('e', 4), { status: ['busy'] });
    const keys = statusKeys(indexes);
    expect([...(keys.get('free') ?? [])]).toEqual(['a', 'c']);
    expect([...(keys.get('busy') ?? [])]).toEqual(['d', 'e']);
  });

  test('writes append to a key\'s list without building its Set; the first read builds it from exactly those ids', () => {
    const indexes = new TypeIndexes(INDEXED_PARAMETERS.Slot);
    for (const id of ['a', 'b', 'c']) indexes.add(bare(id, 0), { status: ['free', '|free'] });
    const keys = statusKeys(indexes);
    expect([keys.isPending('free'), keys.isPending('|free')]).toEqual([true, true]);
    expect([...(keys.get('free') ?? [])]).toEqual(['a', 'b', 'c']);
    expect(keys.isPending('free')).toBe(false);
    // A removal builds the Set too; later adds go to the Set.
    indexes.remove(bare('b', 0), { status: ['free', '|free'] });
    indexes.add(bare('d', 0), { status: ['free', '|free'] });
    expect([...(keys.get('free') ?? [])]).toEqual(['a', 'c', 'd']);
    expect([...(keys.get('|free') ?? [])]).toEqual(['a', 'c', 'd']);
  });

  test('a value repeated in a write\'s search values, or an actor blocked twice, is listed once (a snapshot stores the lists)', () => {
    const slots = new TypeIndexes(INDEXED_PARAMETERS.Slot);
    slots.add(bare('a', 0), { status: ['free', 'free'], schedule: ['Schedule/1', 'Schedule/1'] });
    expect(slots.captureKeys()).toEqual([
      { code: 'schedule', key: 'Schedule/1', ids: ['a'] },
      { code: 'status', key: 'free', ids: ['a'] },
    ]);
    const appointments = new TypeIndexes(INDEXED_PARAMETERS.Appointment);
    const blocks = [
      { a: 'Practitioner/1', lo: 0, hi: 10 },
      { a: 'Location/1', lo: 0, hi: 10 },
      { a: 'Practitioner/1', lo: 20, hi: 30 },
    ];
    appointments.add(bare('x', 0), { _block: blocks });
    expect(appointments.captureKeys().filter((k) => k.code === '_block')).toEqual([
      { code: '_block', key: 'Practitioner/1', ids: ['x'] },
      { code: '_block', key: 'Location/1', ids: ['x'] },
    ]);
  });

  test('a key naming a document that is not live is refused (the snapshot is then not used)', () => {
    const indexes = new TypeIndexes(INDEXED_PARAMETERS.Slot);
    expect(() => indexes.loadKeys('status', 'free', Uint32Array.of(0), [])).toThrow(/not live/);
  });

  test('a snapshot capture copies pending keys without building their Sets', () => {
    const indexes = loaded();
    expect(indexes.captureKeys()).toEqual([
      { code: 'status', key: 'free', ids: ['a', 'b', 'c'] },
      { code: 'status', key: 'busy', ids: ['d'] },
    ]);
    expect(statusKeys(indexes).isPending('free')).toBe(true);
  });
});

describe('date and compound indexes loaded from a snapshot', () => {
  test('hold exactly what indexing the same documents one by one holds', () => {
    const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
    const MINUTE = 60_000;
    // Shared starts across schedules, and one schedule with two Slots at the same start.
    const writes = [0, 1, 2, 3, 4, 5, 6].map((i) =>
      slotWrite({ id: `s${i}`, schedule: `Schedule/${i % 3}`, start: T0 + (i % 4) * 15 * MINUTE, minutes: 15 + i }),
    );
    const one = new TypeIndexes(INDEXED_PARAMETERS.Slot);
    const loaded = new TypeIndexes(INDEXED_PARAMETERS.Slot);
    const entries: Entry[] = writes.map((w, h) => bare(w.id, h, loaded.rangesOf(w.s)));
    writes.forEach((w, i) => {
      const entry = entries[i];
      if (entry !== undefined) one.add(entry, w.s);
    });
    for (const e of entries) if (e.ranges !== undefined) loaded.loadRanges(e._id, e.ranges);
    for (const key of one.captureKeys()) {
      loaded.loadKeys(key.code, key.key, Uint32Array.from(key.ids, (id) => entries.findIndex((e) => e._id === id)), entries);
    }
    loaded.finishLoading();
    for (const code of ['start', 'end']) {
      const a = one.date.get(code);
      const b = loaded.date.get(code);
      expect(b?.tree.toArray()).toEqual(a?.tree.toArray());
      expect([b?.minSpan, b?.maxSpan]).toEqual([a?.minSpan, a?.maxSpan]);
    }
    const trees = (indexes: TypeIndexes): Array<[string, unknown]> =>
      [...(indexes.compound[0]?.trees ?? [])].map(([key, tree]) => [key, tree.toArray()]);
    expect(trees(loaded)).toEqual(trees(one));
    expect(trees(loaded)).toHaveLength(3);
  });
});

describe('shared entry ranges', () => {
  const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
  const MINUTE = 60_000;

  test('Slots of different schedules at the same times share one ranges array; other times get their own', () => {
    const indexes = new TypeIndexes(INDEXED_PARAMETERS.Slot);
    const a = indexes.rangesOf(slotWrite({ id: 'a', schedule: 'Schedule/1', start: T0, minutes: 15 }).s);
    const b = indexes.rangesOf(slotWrite({ id: 'b', schedule: 'Schedule/2', start: T0, minutes: 15 }).s);
    // Same start, another end; and another start.
    const c = indexes.rangesOf(slotWrite({ id: 'c', schedule: 'Schedule/2', start: T0, minutes: 30 }).s);
    const d = indexes.rangesOf(slotWrite({ id: 'd', schedule: 'Schedule/1', start: T0 + 15 * MINUTE, minutes: 15 }).s);
    expect(a).toEqual([0, T0, T0 + 1000, 1, T0 + 15 * MINUTE, T0 + 15 * MINUTE + 1000]);
    expect(b).toBe(a);
    expect(c).toEqual([0, T0, T0 + 1000, 1, T0 + 30 * MINUTE, T0 + 30 * MINUTE + 1000]);
    expect(c).not.toBe(a);
    expect(d).toEqual([0, T0 + 15 * MINUTE, T0 + 15 * MINUTE + 1000, 1, T0 + 30 * MINUTE, T0 + 30 * MINUTE + 1000]);
    expect(indexes.rangesOf(slotWrite({ id: 'e', schedule: 'Schedule/3', start: T0, minutes: 30 }).s)).toBe(c);
  });

  test('past its capacity it starts over: arrays handed out keep their numbers, and equal ones are shared again', () => {
    const shared = new SharedRanges(4);
    const first = shared.get([0, 1, 2], 0, 3);
    const handedOut = Array.from({ length: 10 }, (_, i) => shared.get([5, 0, i, 0, i, 9], 1, 3));
    handedOut.forEach((r, i) => expect(r).toEqual([0, i, 0]));
    expect(first).toEqual([0, 1, 2]);
    const again = shared.get(Float64Array.of(0, 1, 2), 0, 3);
    expect(again).toEqual([0, 1, 2]);
    expect(shared.get([0, 1, 2], 0, 3)).toBe(again);
    // Only whole equal arrays are shared: a longer one with the same first triple is its own.
    expect(shared.get([0, 1, 2, 1, 3, 4], 0, 6)).toEqual([0, 1, 2, 1, 3, 4]);
  });
});
