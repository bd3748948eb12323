import { EntryTexts } from '../../src/store/embedded/entry';
import type { Entry } from '../../src/store/embedded/entry';

function entry(id: string): Entry {
  return { _id: id, versionId: 1, lastUpdated: 0, deleted: false, searchJson: '{}', o: {}, ranges: undefined, h: 0, text: undefined, textUsed: false };
}

describe('EntryTexts (stored texts held on their entries, CLOCK eviction)', () => {
  test('holds a text on its entry and hands it back', () => {
    const texts = new EntryTexts(3);
    const a = entry('a');
    expect(texts.get(a)).toBeUndefined();
    texts.hold(a, '{"id":"a"}');
    expect(texts.get(a)).toBe('{"id":"a"}');
    expect(texts.size).toBe(1);
  });

  test('never holds more than its capacity: the oldest unused text goes first', () => {
    const texts = new EntryTexts(3);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(entry) as [Entry, Entry, Entry, Entry];
    for (const e of [a, b, c, d]) texts.hold(e, e._id);
    expect(texts.size).toBe(3);
    expect([a, b, c, d].map((e) => texts.get(e))).toEqual([undefined, 'b', 'c', 'd']);
  });

  test('a text read since the hand passed gets a second chance', () => {
    const texts = new EntryTexts(3);
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(entry) as [Entry, Entry, Entry, Entry, Entry];
    for (const x of [a, b, c]) texts.hold(x, x._id);
    texts.get(a); // a is used: b, the oldest unused, is evicted instead
    texts.hold(d, 'd');
    expect([a.text, b.text, c.text, d.text]).toEqual(['a', undefined, 'c', 'd']);
    // a's second chance is spent: with every text unused now, the next one goes in ring order (c).
    texts.hold(e, 'e');
    expect([a.text, c.text, d.text, e.text]).toEqual(['a', undefined, 'd', 'e']);
  });

  test('when every text was read, one turn clears the chances and the hand evicts in order', () => {
    const texts = new EntryTexts(2);
    const [a, b, c] = ['a', 'b', 'c'].map(entry) as [Entry, Entry, Entry];
    texts.hold(a, 'a');
    texts.hold(b, 'b');
    texts.get(a);
    texts.get(b);
    texts.hold(c, 'c');
    expect([a.text, b.text, c.text]).toEqual([undefined, 'b', 'c']);
  });

  test('clear drops every held text', () => {
    const texts = new EntryTexts(2);
    const a = entry('a');
    texts.hold(a, 'a');
    texts.clear();
    expect(a.text).toBeUndefined();
    expect(texts.size).toBe(0);
  });
});
