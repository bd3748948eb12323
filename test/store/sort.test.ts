import { effectiveSort, sortPage } from '../../src/store/embedded/sort';
import type { Entry } from '../../src/store/embedded/entry';
import { EMPTY_SORT_KEYS } from '../../src/store/embedded/entry';

function entry(id: string, start: number): Entry {
  return { _id: id, versionId: 1, lastUpdated: 0, deleted: false, searchJson: '{}', o: { start }, ranges: undefined, h: 0 };
}

// Ids in no particular order, some sharing a start (ties are broken by _id).
const ids = ['m', 'c', 'x', 'a', 'q', 'b', 'z', 'k', 'd', 'y', 'e', 'n', 'f', 'p', 'g', 'w', 'h', 'o', 'i', 'v', 'j', 'u', 'l', 't', 'r', 's'];
const entries = ids.map((id, i) => entry(id, i % 5));
const noLoader = (): unknown => undefined;

describe('sortPage', () => {
  test.each([
    [0, undefined],
    [0, 26],
    [0, 5],
    [3, 4],
    [20, 10],
    [0, 1],
  ])('the default order (by _id) is exact for skip %p, limit %p, both directions', (skip, limit) => {
    const ascending = [...ids].sort();
    const end = limit === undefined ? undefined : skip + limit;
    expect(sortPage(entries, [['_id', 1]], skip, limit, noLoader).map((e) => e._id)).toEqual(ascending.slice(skip, end));
    expect(sortPage(entries, [['_id', -1]], skip, limit, noLoader).map((e) => e._id)).toEqual([...ascending].reverse().slice(skip, end));
    expect(sortPage(entries, effectiveSort(undefined), skip, limit, noLoader).map((e) => e._id)).toEqual(ascending.slice(skip, end));
  });

  test('a sort key with _id last breaks ties by _id', () => {
    const expected = [...entries].sort((a, b) => Number(a.o['start']) - Number(b.o['start']) || (a._id < b._id ? -1 : 1)).map((e) => e._id);
    expect(sortPage(entries, effectiveSort([['o.start', 1]]), 0, undefined, noLoader).map((e) => e._id)).toEqual(expected);
    expect(sortPage(entries, effectiveSort([['o.start', 1]]), 2, 3, noLoader).map((e) => e._id)).toEqual(expected.slice(2, 5));
  });

  test('a document without the key sorts first ascending (MongoDB order: missing before numbers)', () => {
    const withMissing = [...entries, { ...entry('aa', 0), o: EMPTY_SORT_KEYS }];
    expect(sortPage(withMissing, effectiveSort([['o.start', 1]]), 0, 1, noLoader).map((e) => e._id)).toEqual(['aa']);
  });
});
