import { FhirError } from '../../src/fhir/outcome';
import type { ResourceType } from '../../src/fhir/resource-types';
import { parseSearchRequest } from '../../src/fhir/search-request';
import type { SearchRequest } from '../../src/fhir/search-request';

const ms = (iso: string): number => Date.parse(iso);
const BASE = 'https://kairos.example/fhir';

function parse(type: ResourceType, query: string, strict = false): SearchRequest {
  return parseSearchRequest(type, [...new URLSearchParams(query)], { strict, baseUrl: BASE });
}

function parseError(type: ResourceType, query: string, strict = false): FhirError {
  try {
    parse(type, query, strict);
  } catch (e) {
    if (e instanceof FhirError) return e;
    throw e;
  }
  throw new Error(`expected ${type}?${query} to fail`);
}

function diagnostics(type: ResourceType, query: string, strict = false): string {
  const e = parseError(type, query, strict);
  expect(e.status).toBe(400);
  return e.outcome.issue[0]?.diagnostics ?? '';
}

describe('parseSearchRequest: defaults and result parameters', () => {
  it('applies the defaults when nothing is given', () => {
    expect(parse('Slot', '')).toEqual({
      resourceType: 'Slot',
      filters: [],
      sort: [],
      count: 50,
      offset: 0,
      include: [],
      revinclude: [],
      applied: [],
    });
  });

  it('reads _count, _offset, _total, _summary, _elements, _sort', () => {
    const r = parse('Slot', '_count=10&_offset=20&_total=accurate&_summary=data&_elements=start,end&_sort=-start,status,_id');
    expect(r.count).toBe(10);
    expect(r.offset).toBe(20);
    expect(r.total).toBe('accurate');
    expect(r.summary).toBe('data');
    expect(r.elements).toEqual(['start', 'end']);
    expect(r.sort).toEqual([
      { code: 'start', descending: true },
      { code: 'status', descending: false },
      { code: '_id', descending: false },
    ]);
  });

  it('accepts _count=0 (count only) and caps _count at 1000, reporting the cap in applied', () => {
    expect(parse('Slot', '_count=0').count).toBe(0);
    const r = parse('Slot', '_count=5000');
    expect(r.count).toBe(1000);
    expect(r.applied).toEqual([['_count', '1000']]);
  });

  it.each([
    ['_count=abc', 'Invalid _count "abc": expected a whole number from 0'],
    ['_count=-1', 'Invalid _count "-1": expected a whole number from 0'],
    ['_count=1.5', 'Invalid _count "1.5": expected a whole number from 0'],
    ['_offset=x', 'Invalid _offset "x": expected a whole number from 0'],
    ['_total=all', 'Invalid _total "all": expected one of none, estimate, accurate'],
    ['_summary=yes', 'Invalid _summary "yes": expected one of true, text, data, count, false'],
    ['_sort=-nope', 'Unknown _sort parameter "nope" for Slot'],
  ])('rejects %s with a 400 naming it', (query, message) => {
    expect(diagnostics('Slot', query)).toBe(message);
  });

  it('keeps only the last of a repeated single-valued result parameter', () => {
    const r = parse('Slot', '_count=5&status=free&_count=7&_sort=start&_sort=-start');
    expect(r.count).toBe(7);
    expect(r.sort).toEqual([{ code: 'start', descending: true }]);
    expect(r.applied).toEqual([
      ['status', 'free'],
      ['_count', '7'],
      ['_sort', '-start'],
    ]);
  });

  it('accepts _format and _pretty and lists them as applied', () => {
    const r = parse('Slot', '_format=json&_pretty=true');
    expect(r.applied).toEqual([
      ['_format', 'json'],
      ['_pretty', 'true'],
    ]);
  });
});

describe('parseSearchRequest: _include and _revinclude', () => {
  it('parses Source:param and Source:param:Target, with :iterate and its :recurse alias', () => {
    const r = parse(
      'Appointment',
      '_include=Appointment:slot&_include=Appointment:actor:Practitioner&_include:iterate=Slot:schedule&_include:recurse=Schedule:actor',
    );
    expect(r.include).toEqual([
      { source: 'Appointment', code: 'slot', iterate: false },
      { source: 'Appointment', code: 'actor', target: 'Practitioner', iterate: false },
      { source: 'Slot', code: 'schedule', iterate: true },
      { source: 'Schedule', code: 'actor', iterate: true },
    ]);
  });

  it('expands _include=* to every reference parameter of the type', () => {
    expect(parse('Slot', '_include=*').include).toEqual([{ source: 'Slot', code: 'schedule', iterate: false }]);
  });

  it('parses _revinclude from types that refer to the searched one', () => {
    expect(parse('Slot', '_revinclude=Appointment:slot').revinclude).toEqual([{ source: 'Appointment', code: 'slot', iterate: false }]);
  });

  it.each([
    ['Slot', '_include=Slot', 'Invalid _include "Slot": expected SourceType:parameter[:TargetType]'],
    ['Slot', '_include=Slot:status', 'Invalid _include "Slot:status": Slot has no reference search parameter "status"'],
    ['Slot', '_include=Slot:nope', 'Invalid _include "Slot:nope": Slot has no reference search parameter "nope"'],
    ['Slot', '_include=Schedule:actor', 'Invalid _include "Schedule:actor": the source type must be Slot (or use _include:iterate)'],
    ['Slot', '_include=Slot:schedule:Patient', 'Invalid _include "Slot:schedule:Patient": "Patient" is not a target of Slot:schedule'],
    ['Slot', '_include=slot:schedule', 'Invalid _include "slot:schedule": "slot" is not a resource type'],
    ['Slot', '_revinclude=Appointment:patient', 'Invalid _revinclude "Appointment:patient": Appointment:patient does not refer to Slot'],
    ['Slot', '_include:deep=Slot:schedule', 'Unknown modifier ":deep" in search parameter "_include:deep"'],
  ] as const)('rejects %s?%s', (type, query, message) => {
    expect(diagnostics(type, query)).toBe(message);
  });

  it('ignores an include from a type Kairos does not store, unless strict', () => {
    const r = parse('Appointment', '_revinclude=Provenance:target');
    expect(r.revinclude).toEqual([]);
    expect(r.applied).toEqual([]);
    expect(diagnostics('Appointment', '_revinclude=Provenance:target', true)).toBe(
      '_revinclude "Provenance:target": Kairos does not store Provenance (Prefer: handling=strict)',
    );
  });
});

describe('parseSearchRequest: unknown parameters and applied', () => {
  it('ignores unknown parameters and empty values, and lists only what it applied', () => {
    const r = parse('Slot', 'status=free&foo=bar&_has:Appointment:slot:status=booked&start=&_count=5');
    expect(r.filters).toEqual([{ kind: 'token', code: 'status', not: false, values: [{ code: 'free' }] }]);
    expect(r.applied).toEqual([
      ['status', 'free'],
      ['_count', '5'],
    ]);
  });

  it('rejects an unknown parameter when strict', () => {
    expect(diagnostics('Slot', 'foo=bar', true)).toBe('Unknown search parameter "foo" for Slot (Prefer: handling=strict)');
  });

  it('keeps operator-looking names and values as plain strings', () => {
    const r = parse('Slot', 'status=$ne&$where=1&status[$ne]=x');
    expect(r.filters).toEqual([{ kind: 'token', code: 'status', not: false, values: [{ code: '$ne' }] }]);
    expect(r.applied).toEqual([['status', '$ne']]);
    expect(diagnostics('Slot', '$where=1', true)).toBe('Unknown search parameter "$where" for Slot (Prefer: handling=strict)');
  });
});

describe('parseSearchRequest: OR, AND and escapes', () => {
  it('reads a comma as OR and repeated parameters as AND', () => {
    const r = parse('Appointment', 'status=booked,arrived&status=arrived');
    expect(r.filters).toEqual([
      { kind: 'token', code: 'status', not: false, values: [{ code: 'booked' }, { code: 'arrived' }] },
      { kind: 'token', code: 'status', not: false, values: [{ code: 'arrived' }] },
    ]);
  });

  it('honours \\, \\| and \\\\ escapes', () => {
    const r = parse('Patient', `family=${encodeURIComponent('Smith\\,Jr,Doe')}&identifier=${encodeURIComponent('urn:a\\|b|x\\,y')}`);
    expect(r.filters).toEqual([
      { kind: 'string', code: 'family', match: 'starts-with', values: ['smith,jr', 'doe'] },
      { kind: 'token', code: 'identifier', not: false, values: [{ system: 'urn:a|b', code: 'x,y' }] },
    ]);
    expect(parse('Patient', `name=${encodeURIComponent('a\\\\b')}`).filters).toEqual([
      { kind: 'string', code: 'name', match: 'starts-with', values: ['a\\b'] },
    ]);
  });
});

describe('parseSearchRequest: tokens', () => {
  it('parses code, system|code, |code and system|', () => {
    const r = parse('Slot', 'service-type=57&service-type=http://sys|57&service-type=|57&service-type=http://sys|');
    expect(r.filters.map((f) => (f.kind === 'token' ? f.values : []))).toEqual([
      [{ code: '57' }],
      [{ system: 'http://sys', code: '57' }],
      [{ system: '', code: '57' }],
      [{ system: 'http://sys' }],
    ]);
  });

  it('parses :not, :text and :missing', () => {
    expect(parse('Slot', 'status:not=busy,free').filters).toEqual([
      { kind: 'token', code: 'status', not: true, values: [{ code: 'busy' }, { code: 'free' }] },
    ]);
    expect(parse('Slot', 'service-type:text=Flu Shots').filters).toEqual([{ kind: 'token-text', code: 'service-type', values: ['flu shots'] }]);
    expect(parse('Slot', 'specialty:missing=true').filters).toEqual([{ kind: 'missing', code: 'specialty', missing: true }]);
  });

  it('parses _id as ids, with :not', () => {
    expect(parse('Slot', '_id=a,b').filters).toEqual([{ kind: 'id', not: false, values: ['a', 'b'] }]);
    expect(parse('Slot', '_id:not=a').filters).toEqual([{ kind: 'id', not: true, values: ['a'] }]);
  });

  it.each([
    ['status:below=x', 'Unknown modifier ":below" in search parameter "status:below"'],
    ['status:exact=x', 'Unknown modifier ":exact" in search parameter "status:exact"'],
    ['status:missing=maybe', 'Invalid value "maybe" for "status:missing": expected true or false'],
    ['identifier=a|b|c', 'Invalid token "a|b|c" in search parameter "identifier": expected [system|]code'],
    ['identifier=|', 'Invalid token "|" in search parameter "identifier"'],
    ['status=,', 'Search parameter "status" has no value'],
  ])('rejects %s', (query, message) => {
    expect(diagnostics('Slot', query)).toBe(message);
  });
});

describe('parseSearchRequest: strings', () => {
  it('normalises default and :contains values, keeps :exact as given', () => {
    expect(parse('Patient', 'name=Müller&name:contains=ALL&name:exact=Müller').filters).toEqual([
      { kind: 'string', code: 'name', match: 'starts-with', values: ['muller'] },
      { kind: 'string', code: 'name', match: 'contains', values: ['all'] },
      { kind: 'string', code: 'name', match: 'exact', values: ['Müller'] },
    ]);
  });

  it('rejects an unknown string modifier', () => {
    expect(diagnostics('Patient', 'name:text=x')).toBe('Unknown modifier ":text" in search parameter "name:text"');
  });
});

describe('parseSearchRequest: references', () => {
  it('reads Type/id, a bare id (every target type), a :Type modifier and absolute URLs', () => {
    const r = parse(
      'Appointment',
      `actor=Practitioner/1&slot=s1&actor:Location=room-4&practitioner=${BASE}/Practitioner/2/_history/3&actor=https://other.example/fhir/Patient/9`,
    );
    expect(r.filters).toEqual([
      { kind: 'reference', code: 'actor', values: ['Practitioner/1'] },
      { kind: 'reference', code: 'slot', values: ['Slot/s1'] },
      { kind: 'reference', code: 'actor', values: ['Location/room-4'] },
      { kind: 'reference', code: 'practitioner', values: ['Practitioner/2'] },
      { kind: 'reference', code: 'actor', values: ['https://other.example/fhir/Patient/9'] },
    ]);
    expect(parse('Appointment', 'actor=x').filters[0]).toEqual({
      kind: 'reference',
      code: 'actor',
      values: ['Practitioner/x', 'Device/x', 'Patient/x', 'HealthcareService/x', 'PractitionerRole/x', 'RelatedPerson/x', 'Location/x'],
    });
  });

  it.each([
    ['Appointment', 'actor:Slot=1', 'Unknown modifier ":Slot" in search parameter "actor:Slot"'],
    ['Appointment', 'actor:Practitioner=Patient/1', 'Reference "Patient/1" in search parameter "actor:Practitioner" is not a Practitioner'],
    ['Appointment', 'supporting-info=123', 'Search parameter "supporting-info" can refer to any type: give the reference as Type/id, not "123"'],
  ] as const)('rejects %s?%s', (type, query, message) => {
    expect(diagnostics(type, query)).toBe(message);
  });
});

describe('parseSearchRequest: chains', () => {
  it('parses one level of chaining into inner filters per stored target type', () => {
    expect(parse('Slot', 'schedule.actor=Practitioner/1').filters).toEqual([
      {
        kind: 'chain',
        code: 'schedule',
        targets: [{ resourceType: 'Schedule', filter: { kind: 'reference', code: 'actor', values: ['Practitioner/1'] } }],
      },
    ]);
    expect(parse('Appointment', 'actor:Practitioner.name=Smith').filters).toEqual([
      {
        kind: 'chain',
        code: 'actor',
        targets: [{ resourceType: 'Practitioner', filter: { kind: 'string', code: 'name', match: 'starts-with', values: ['smith'] } }],
      },
    ]);
  });

  it('chains into every stored target type that has the parameter', () => {
    const [chain] = parse('Appointment', 'actor.name:exact=Smith').filters;
    expect(chain?.kind === 'chain' ? chain.targets.map((t) => t.resourceType) : []).toEqual([
      'Practitioner',
      'Patient',
      'HealthcareService',
      'Location',
    ]);
  });

  it('ignores an unknown chained parameter unless strict', () => {
    expect(parse('Slot', 'schedule.nope=1').filters).toEqual([]);
    expect(diagnostics('Slot', 'schedule.nope=1', true)).toBe(
      'Chained parameter "schedule.nope": no Schedule search parameter "nope" (Prefer: handling=strict)',
    );
  });

  it.each([
    ['status.x=1', 'Search parameter "status" is not a reference; "status.x" cannot chain'],
    ['schedule.actor.name=x', 'Chained parameter "schedule.actor.name": Kairos supports one level of chaining'],
    ['schedule.date=2024-13', 'Invalid date "2024-13" in search parameter "schedule.date": expected yyyy[-mm[-dd[Thh:mm[:ss[.sss]][Z|(+|-)hh:mm]]]]'],
  ])('rejects Slot?%s', (query, message) => {
    expect(diagnostics('Slot', query)).toBe(message);
  });
});

describe('parseSearchRequest: dates', () => {
  it.each(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const)('reads the %s prefix', (prefix) => {
    expect(parse('Slot', `start=${prefix}2027-03-08`).filters).toEqual([
      { kind: 'date', code: 'start', values: [{ prefix, range: { lo: ms('2027-03-08T00:00:00Z'), hi: ms('2027-03-09T00:00:00Z') } }] },
    ]);
  });

  it.each([
    ['2027', '2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z'],
    ['2027-03', '2027-03-01T00:00:00Z', '2027-04-01T00:00:00Z'],
    ['2027-03-08', '2027-03-08T00:00:00Z', '2027-03-09T00:00:00Z'],
    ['2027-03-08T10:15', '2027-03-08T10:15:00Z', '2027-03-08T10:16:00Z'],
    ['2027-03-08T10:15:30', '2027-03-08T10:15:30Z', '2027-03-08T10:15:31Z'],
    ['2027-03-08T10:15:30.250', '2027-03-08T10:15:30.250Z', '2027-03-08T10:15:30.251Z'],
    ['2027-03-08T10:15Z', '2027-03-08T10:15:00Z', '2027-03-08T10:16:00Z'],
    ['2027-03-08T10:15:30-08:00', '2027-03-08T18:15:30Z', '2027-03-08T18:15:31Z'],
    ['2027-03-08T10:15:30.250+02:00', '2027-03-08T08:15:30.250Z', '2027-03-08T08:15:30.251Z'],
  ])('reads %s at its precision (no zone = UTC)', (value, lo, hi) => {
    const [filter] = parse('Slot', `start=ge${encodeURIComponent(value)}`).filters;
    expect(filter).toEqual({ kind: 'date', code: 'start', values: [{ prefix: 'ge', range: { lo: ms(lo), hi: ms(hi) } }] });
  });

  it('reads an unencoded + in a zone (decoded to a space) as +', () => {
    const [filter] = parse('Slot', 'start=2027-03-08T10:15:30+02:00').filters;
    expect(filter).toEqual({
      kind: 'date',
      code: 'start',
      values: [{ prefix: 'eq', range: { lo: ms('2027-03-08T08:15:30Z'), hi: ms('2027-03-08T08:15:31Z') } }],
    });
  });

  it.each([
    ['start=xx2027-03-08', 'Unknown prefix "xx" in search parameter "start": expected one of eq, ne, gt, lt, ge, le, sa, eb, ap'],
    ['start=2027-02-30', 'Invalid date "2027-02-30" in search parameter "start": expected yyyy[-mm[-dd[Thh:mm[:ss[.sss]][Z|(+|-)hh:mm]]]]'],
    ['start=ge2027-03-08T10', 'Invalid date "2027-03-08T10" in search parameter "start": expected yyyy[-mm[-dd[Thh:mm[:ss[.sss]][Z|(+|-)hh:mm]]]]'],
    ['start=tomorrow', 'Unknown prefix "to" in search parameter "start": expected one of eq, ne, gt, lt, ge, le, sa, eb, ap'],
    ['start:exact=2027', 'Unknown modifier ":exact" in search parameter "start:exact"'],
  ])('rejects %s', (query, message) => {
    const e = parseError('Slot', query);
    expect(e.outcome.issue[0]?.diagnostics).toBe(message);
    expect(['invalid', 'value']).toContain(e.outcome.issue[0]?.code);
  });

  it('reads OR-ed dates', () => {
    const [filter] = parse('Slot', 'start=2027-03-08,2027-03-10').filters;
    expect(filter?.kind === 'date' ? filter.values.length : 0).toBe(2);
  });
});
