import type { BundleEntry, Schedule, Slot } from 'fhir/r4';
import { bundle, bundleJson } from '../../src/fhir/bundle';
import type { EntryText } from '../../src/fhir/bundle';
import { jsonResult, withResource } from '../../src/interactions/fhir-request';

const slot: Slot = { resourceType: 'Slot', id: 's1', schedule: { reference: 'Schedule/x' }, status: 'free', start: '2027-01-04T08:00:00Z', end: '2027-01-04T08:15:00Z' };

// Non-ASCII text: the body is UTF-8 bytes, so characters and bytes differ in number.
const schedule: Schedule = { resourceType: 'Schedule', id: 'x', actor: [], comment: 'Ωράριο Δρ. Παπαδοπούλου — 08:00–17:00' };
// Characters below U+0100 but above ASCII: one byte in Latin-1, two in UTF-8 (must not be copied as Latin-1).
const latin: Schedule = { resourceType: 'Schedule', id: 'y', actor: [], comment: 'Clinique Sainte-Thérèse, salle 3 — 08h–17h' };
const busy: Slot = { ...slot, status: 'busy' };

describe('searchset JSON assembled from stored texts', () => {
  test('bundleJson with entry texts is byte-equal to JSON.stringify of the same Bundle object', () => {
    const entries: BundleEntry[] = [
      { fullUrl: 'http://x/fhir/Slot/s1', resource: slot, search: { mode: 'match' } },
      { fullUrl: 'http://x/fhir/Schedule/"quoted"', resource: schedule, search: { mode: 'include' } },
      { fullUrl: 'http://hôte/fhir/Schedule/y', resource: latin, search: { mode: 'include' } },
    ];
    const extra = { total: 2, link: [{ relation: 'self', url: 'http://x/fhir/Slot?_count=20' }] };
    const texts: EntryText[] = entries.map((e) => ({ fullUrl: e.fullUrl ?? '', resource: JSON.stringify(e.resource), mode: e.search?.mode === 'include' ? 'include' : 'match' }));
    expect(bundleJson('searchset', texts, extra).toString('utf8')).toBe(JSON.stringify(bundle('searchset', entries, extra)));
  });

  test('a result built from the bytes parses its resource from them', () => {
    const json = bundleJson('searchset', [{ fullUrl: 'http://x/fhir/Schedule/x', resource: JSON.stringify(schedule), mode: 'match' }]);
    expect(jsonResult({ status: 200 }, json).resource).toEqual(bundle('searchset', [{ fullUrl: 'http://x/fhir/Schedule/x', resource: schedule, search: { mode: 'match' } }]));
  });

  test('without entries the Bundle has no entry element', () => {
    expect(bundleJson('searchset', [], { total: 0 }).toString('utf8')).toBe(JSON.stringify(bundle('searchset', [], { total: 0 })));
    expect(JSON.parse(bundleJson('searchset', []).toString('utf8'))).not.toHaveProperty('entry');
  });
});

describe('results that carry JSON text', () => {
  test('jsonResult parses its resource from the text on first use, once', () => {
    const result = jsonResult({ status: 200 }, JSON.stringify(slot));
    expect(result.json).toBe(JSON.stringify(slot));
    expect(result.resource).toEqual(slot);
    expect(result.resource).toBe(result.resource);
  });

  test('withResource replaces the body and drops the now stale text', () => {
    const result = withResource(jsonResult({ status: 200, headers: { A: 'b' } }, JSON.stringify(slot)), busy);
    expect(result.json).toBeUndefined();
    expect(result).toEqual({ status: 200, headers: { A: 'b' }, resource: busy });
  });
});
