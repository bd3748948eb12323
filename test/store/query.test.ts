import type { Appointment, Patient, Practitioner, Schedule, Slot } from 'fhir/r4';
import { Query } from 'mingo';
import type { ResourceType, StoredFhirResource } from '../../src/fhir/resource-types';
import { indexResource } from '../../src/fhir/search-index';
import { parseSearchRequest } from '../../src/fhir/search-request';
import { escapeRegex, resolveChains, toFilter, toOverlapClause, toStoreQuery } from '../../src/store/query';
import type { ResourceDocument, StoreQuery } from '../../src/store/store';

const ms = (iso: string): number => Date.parse(iso);
const NOW = ms('2027-03-01T00:00:00Z');

function doc<R extends { resourceType: string; id?: string | undefined }>(resource: R): ResourceDocument {
  const stored = resource as unknown as StoredFhirResource;
  const { s, o } = indexResource(stored);
  return { _id: stored.id, versionId: 1, lastUpdated: 0, deleted: false, resource: stored, s, o };
}

/** Evaluates a store filter the way the embedded store does (mingo). */
function matching(docs: readonly ResourceDocument[], filter: Record<string, unknown>): string[] {
  const query = new Query(filter);
  return docs.filter((d) => query.test({ ...d })).map((d) => d._id);
}

/** Runs `Type?query` over documents, chains resolved against `all`. */
async function search(
  type: ResourceType,
  query: string,
  docs: readonly ResourceDocument[],
  all: Partial<Record<ResourceType, readonly ResourceDocument[]>> = {},
): Promise<string[]> {
  const request = parseSearchRequest(type, [...new URLSearchParams(query)], { strict: true });
  const resolved = await resolveChains(
    request,
    async (target: ResourceType, inner: StoreQuery) => matching(all[target] ?? [], inner.filter),
    NOW,
  );
  return matching(docs, toStoreQuery(resolved, NOW).filter);
}

function slot(id: string, start: string, end: string, extra: Partial<Slot> = {}): Slot {
  return { resourceType: 'Slot', id, schedule: { reference: 'Schedule/s1' }, status: 'free', start, end, ...extra };
}

describe('toStoreQuery shapes', () => {
  it('produces {} without filters, then $and of clauses; sort ends with _id; skip/limit/count', () => {
    const request = parseSearchRequest('Slot', [], { strict: false });
    expect(toStoreQuery({ ...request, filters: [] }, NOW)).toEqual({
      filter: {},
      sort: [['_id', 1]],
      skip: 0,
      limit: 50,
      count: true,
    });
  });

  it('translates tokens to $in over index keys and _id to the document id', async () => {
    const request = parseSearchRequest(
      'Slot',
      [
        ['status', 'free,busy'],
        ['service-type', 'http://sys|57'],
        ['_id', 'a,b'],
        ['_sort', '-start,_lastUpdated'],
        ['_count', '10'],
        ['_offset', '30'],
        ['_total', 'none'],
      ],
      { strict: true },
    );
    expect(toStoreQuery(await resolveChains(request, async () => [], NOW), NOW)).toEqual({
      filter: {
        $and: [
          { 's.status': { $in: ['free', 'busy'] } },
          { 's.service-type': { $in: ['http://sys|57'] } },
          { _id: { $in: ['a', 'b'] } },
        ],
      },
      sort: [
        ['o.start', -1],
        ['o._lastUpdated', 1],
        ['_id', 1],
      ],
      skip: 30,
      limit: 10,
      count: false,
    });
  });

  it('asks only for the total with _count=0 or _summary=count', async () => {
    for (const pair of [['_count', '0'] as const, ['_summary', 'count'] as const]) {
      const q = toStoreQuery(await resolveChains(parseSearchRequest('Slot', [pair], { strict: true }), async () => [], NOW), NOW);
      expect(q.limit).toBe(0);
      expect(q.count).toBe(true);
    }
  });

  it('escapes regular-expression syntax in string values', async () => {
    const request = parseSearchRequest('Patient', [['name', 'a.*(b)[c]?+^$|\\\\']], { strict: true });
    const q = toStoreQuery(await resolveChains(request, async () => [], NOW), NOW);
    expect(q.filter).toEqual({ $and: [{ 's.name': { $regex: '^a\\.\\*\\(b\\)\\[c\\]\\?\\+\\^\\$\\|\\\\' } }] });
    expect(new RegExp(escapeRegex('x.y')).test('xzy')).toBe(false);
  });

  it('builds the actor overlap clause for the booking engine', () => {
    const clause = toOverlapClause(['Practitioner/1', 'Location/2'], 100, 200);
    expect(clause).toEqual({ 's._block': { $elemMatch: { a: { $in: ['Practitioner/1', 'Location/2'] }, lo: { $lt: 200 }, hi: { $gt: 100 } } } });
    const booked = doc({
      resourceType: 'Appointment',
      id: 'a',
      status: 'booked',
      start: new Date(150).toISOString(),
      end: new Date(250).toISOString(),
      participant: [{ actor: { reference: 'Location/2' }, status: 'accepted' }],
    } satisfies Appointment);
    expect(matching([booked], clause)).toEqual(['a']);
    expect(matching([booked], toOverlapClause(['Location/2'], 250, 300))).toEqual([]);
    expect(matching([booked], toOverlapClause(['Location/2'], 0, 150))).toEqual([]);
    expect(matching([booked], toOverlapClause(['Location/3'], 100, 200))).toEqual([]);
  });
});

describe('date search over instants (Slot.start)', () => {
  const docs = [
    // 10:00-08:00 is 18:00Z, still 8 March in UTC.
    doc(slot('pst', '2027-03-08T10:00:00-08:00', '2027-03-08T10:15:00-08:00')),
    // 20:00-08:00 is 04:00Z on 9 March.
    doc(slot('pst-late', '2027-03-08T20:00:00-08:00', '2027-03-08T20:15:00-08:00')),
    doc(slot('midnight', '2027-03-08T00:00:00Z', '2027-03-08T00:15:00Z')),
    doc(slot('before', '2027-03-07T23:59:59Z', '2027-03-08T00:14:59Z')),
    doc(slot('ms', '2027-03-09T00:00:00.000Z', '2027-03-09T00:15:00Z')),
  ];

  it('matches Slot?start=2027-03-08 as the UTC day', async () => {
    expect(await search('Slot', 'start=2027-03-08', docs)).toEqual(['pst', 'midnight']);
  });

  it.each([
    ['eq2027-03-08', ['pst', 'midnight']],
    ['ne2027-03-08', ['pst-late', 'before', 'ms']],
    ['gt2027-03-08', ['pst-late', 'ms']],
    ['ge2027-03-08', ['pst', 'pst-late', 'midnight', 'ms']],
    ['lt2027-03-08', ['before']],
    ['le2027-03-08', ['pst', 'midnight', 'before']],
    ['sa2027-03-08', ['pst-late', 'ms']],
    ['eb2027-03-08', ['before']],
    ['ge2027-03-08T18:00:00Z', ['pst', 'pst-late', 'ms']],
    ['gt2027-03-08T18:00:00Z', ['pst-late', 'ms']],
    ['le2027-03-08T00:00:00Z', ['midnight', 'before']],
    ['lt2027-03-08T00:00:00Z', ['before']],
    ['2027-03-08T10:00:00-08:00', ['pst']],
    ['2027-03-08T18:00Z', ['pst']],
    ['2027-03', ['pst', 'pst-late', 'midnight', 'before', 'ms']],
    ['2027-03-07,2027-03-09', ['pst-late', 'before', 'ms']],
  ])('Slot?start=%s', async (value, expected) => {
    expect(await search('Slot', `start=${encodeURIComponent(value)}`, docs)).toEqual(expected);
  });

  it('finds the slots overlapping [a, b) with start=lt{b}&end=gt{a}', async () => {
    const day = [
      doc(slot('s0900', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z')),
      doc(slot('s0915', '2027-03-08T09:15:00Z', '2027-03-08T09:30:00Z')),
      doc(slot('s0930', '2027-03-08T09:30:00Z', '2027-03-08T09:45:00Z')),
      doc(slot('s0945', '2027-03-08T09:45:00Z', '2027-03-08T10:00:00Z')),
    ];
    expect(await search('Slot', 'start=lt2027-03-08T09:45:00Z&end=gt2027-03-08T09:15:00Z', day)).toEqual(['s0915', 's0930']);
  });

  it('applies ap with 10% of the distance from now', async () => {
    // Now is 1 March; 11 March ± 1 day (10% of 10 days) reaches 10 and 12 March.
    const near = [
      doc(slot('d09', '2027-03-09T12:00:00Z', '2027-03-09T12:15:00Z')),
      doc(slot('d10', '2027-03-10T12:00:00Z', '2027-03-10T12:15:00Z')),
      doc(slot('d12', '2027-03-12T12:00:00Z', '2027-03-12T12:15:00Z')),
      doc(slot('d13', '2027-03-13T12:00:00Z', '2027-03-13T12:15:00Z')),
    ];
    expect(await search('Slot', 'start=ap2027-03-11', near)).toEqual(['d10', 'd12']);
  });
});

describe('date search over Periods (Schedule.date = planningHorizon)', () => {
  function schedule(id: string, start?: string, end?: string): ResourceDocument {
    const s: Schedule = { resourceType: 'Schedule', id, actor: [{ reference: 'Practitioner/1' }] };
    if (start !== undefined || end !== undefined) {
      s.planningHorizon = {};
      if (start !== undefined) s.planningHorizon.start = start;
      if (end !== undefined) s.planningHorizon.end = end;
    }
    return doc(s);
  }
  const docs = [
    schedule('march', '2027-03-01', '2027-03-31'),
    schedule('march-8', '2027-03-08T08:00:00Z', '2027-03-08T17:00:00Z'),
    schedule('open-end', '2027-03-05'),
    schedule('open-start', undefined, '2027-03-10'),
    schedule('april', '2027-04-01', '2027-04-30'),
    schedule('february', '2027-02-01', '2027-02-28'),
    schedule('none'),
  ];

  it.each([
    // eq: the value's range (8 March) fully contains the horizon.
    ['2027-03-08', ['march-8']],
    ['eq2027-03', ['march', 'march-8']],
    ['ne2027-03', ['open-end', 'open-start', 'april', 'february']],
    // gt: some of the horizon lies after the value's range; an open end reaches +∞.
    ['gt2027-03-08', ['march', 'open-end', 'open-start', 'april']],
    ['lt2027-03-08', ['march', 'open-end', 'open-start', 'february']],
    // ge = gt or eq: a horizon that starts before and ends inside 8 March would not match.
    ['ge2027-03-08', ['march', 'march-8', 'open-end', 'open-start', 'april']],
    ['le2027-03-08', ['march', 'march-8', 'open-end', 'open-start', 'february']],
    ['sa2027-03-31', ['april']],
    ['eb2027-03-01', ['february']],
    ['sa2027-03-04', ['march-8', 'open-end', 'april']],
    ['eb2027-03-11', ['march-8', 'open-start', 'february']],
  ])('Schedule?date=%s', async (value, expected) => {
    expect(await search('Schedule', `date=${value}`, docs)).toEqual(expected);
  });

  it('reads ge and le together as "overlaps the day"', async () => {
    expect(await search('Schedule', 'date=ge2027-03-08&date=le2027-03-08', docs)).toEqual([
      'march',
      'march-8',
      'open-end',
      'open-start',
    ]);
  });

  it('does not count a horizon that starts before and ends inside the value as ge', async () => {
    const straddling = [schedule('straddle', '2027-03-07T20:00:00Z', '2027-03-08T10:00:00Z')];
    expect(await search('Schedule', 'date=ge2027-03-08', straddling)).toEqual([]);
    expect(await search('Schedule', 'date=le2027-03-08', straddling)).toEqual(['straddle']);
  });

  it('finds schedules without a horizon with :missing', async () => {
    expect(await search('Schedule', 'date:missing=true', docs)).toEqual(['none']);
    expect(await search('Schedule', 'date:missing=false', docs)).toHaveLength(6);
  });
});

describe('token search', () => {
  const SERVICE = 'http://terminology.hl7.org/CodeSystem/service-type';
  const docs = [
    doc(slot('flu', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z', {
      serviceType: [{ coding: [{ system: SERVICE, code: '57', display: 'Immunization' }], text: 'Flu shots' }],
    })),
    doc(slot('local', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z', {
      status: 'busy',
      serviceType: [{ coding: [{ code: '57', display: 'Local immunisation code' }] }],
    })),
    doc(slot('dental', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z', {
      serviceType: [{ coding: [{ system: SERVICE, code: '10', display: 'Dental' }] }],
    })),
    doc(slot('untyped', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z', { status: 'busy-tentative' })),
  ];

  it.each([
    ['service-type=57', ['flu', 'local']],
    [`service-type=${SERVICE}|57`, ['flu']],
    ['service-type=|57', ['local']],
    [`service-type=${SERVICE}|`, ['flu', 'dental']],
    ['service-type=10,57', ['flu', 'local', 'dental']],
    ['service-type:not=57', ['dental', 'untyped']],
    ['service-type:text=immuni', ['flu', 'local']],
    ['service-type:text=shots', ['flu']],
    ['service-type:text=munization', []],
    ['service-type:missing=true', ['untyped']],
    ['service-type:missing=false', ['flu', 'local', 'dental']],
    ['status=free', ['flu', 'dental']],
    ['status:not=free,busy', ['untyped']],
    ['status=free&service-type=57', ['flu']],
    ['_id=flu,dental', ['flu', 'dental']],
    ['_id:not=flu', ['local', 'dental', 'untyped']],
  ])('Slot?%s', async (query, expected) => {
    expect(await search('Slot', query, docs)).toEqual(expected);
  });
});

describe('string search', () => {
  function patient(id: string, family: string, given: string[]): ResourceDocument {
    return doc({ resourceType: 'Patient', id, name: [{ family, given }] } satisfies Patient);
  }
  const docs = [
    patient('muller', 'Müller', ['Anna']),
    patient('mullins', 'Mullins', ['Tom']),
    patient('smith', 'Smith', ['Anna Maria']),
    patient('dotted', 'St.John', ['Eve']),
  ];

  it.each([
    ['family=mul', ['muller', 'mullins']],
    ['family=MÜL', ['muller', 'mullins']],
    ['family=muller', ['muller']],
    ['family:exact=Müller', ['muller']],
    ['family:exact=Muller', []],
    ['family:exact=müller', []],
    ['family:contains=LL', ['muller', 'mullins']],
    ['family:contains=.', ['dotted']],
    ['family=st.', ['dotted']],
    ['family=s.', []],
    ['name=anna', ['muller', 'smith']],
    ['given=maria', []],
    ['given:contains=maria', ['smith']],
    ['name=smith,tom', ['mullins', 'smith']],
    ['family:missing=true', []],
  ])('Patient?%s', async (query, expected) => {
    expect(await search('Patient', query, docs)).toEqual(expected);
  });
});

describe('reference search and chains', () => {
  const practitioners = [
    doc({ resourceType: 'Practitioner', id: 'dr-smith', name: [{ family: 'Smith' }] } satisfies Practitioner),
    doc({ resourceType: 'Practitioner', id: 'dr-jones', name: [{ family: 'Jones' }] } satisfies Practitioner),
  ];
  const schedules = [
    doc({ resourceType: 'Schedule', id: 'sch-smith', actor: [{ reference: 'Practitioner/dr-smith' }] } satisfies Schedule),
    doc({ resourceType: 'Schedule', id: 'sch-jones', actor: [{ reference: 'Practitioner/dr-jones' }, { reference: 'Location/room-1' }] } satisfies Schedule),
  ];
  const slots = [
    doc(slot('a', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z', { schedule: { reference: 'Schedule/sch-smith' } })),
    doc(slot('b', '2027-03-08T09:00:00Z', '2027-03-08T09:15:00Z', { schedule: { reference: 'Schedule/sch-jones' } })),
  ];
  const appointments = [
    doc({
      resourceType: 'Appointment',
      id: 'appt',
      status: 'booked',
      start: '2027-03-08T09:00:00Z',
      end: '2027-03-08T09:15:00Z',
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/dr-smith' }, status: 'accepted' },
      ],
    } satisfies Appointment),
  ];
  const all = { Practitioner: practitioners, Schedule: schedules, Slot: slots, Appointment: appointments };

  it.each([
    ['schedule=Schedule/sch-smith', ['a']],
    ['schedule=sch-jones', ['b']],
    ['schedule:Schedule=sch-jones', ['b']],
    ['schedule.actor=Practitioner/dr-jones', ['b']],
    ['schedule.actor=Location/room-1', ['b']],
    ['schedule.actor=Practitioner/nobody', []],
    ['schedule.actor:Practitioner=dr-smith', ['a']],
    ['schedule._id=sch-smith,sch-jones', ['a', 'b']],
  ])('Slot?%s', async (query, expected) => {
    expect(await search('Slot', query, slots, all)).toEqual(expected);
  });

  it.each([
    ['practitioner=dr-smith', ['appt']],
    ['actor=Practitioner/dr-smith', ['appt']],
    ['actor:Practitioner=dr-smith', ['appt']],
    ['patient=p1', ['appt']],
    ['patient=dr-smith', []],
    ['actor:Practitioner.name=smith', ['appt']],
    ['actor:Practitioner.name=jones', []],
    ['practitioner.family=smith', ['appt']],
    ['location:missing=true', ['appt']],
  ])('Appointment?%s', async (query, expected) => {
    expect(await search('Appointment', query, appointments, all)).toEqual(expected);
  });

  it('runs each chain as an inner search and never passes values as field names', async () => {
    const inner: Array<[ResourceType, Record<string, unknown>]> = [];
    const request = parseSearchRequest('Slot', [['schedule.actor', 'Practitioner/x']], { strict: true });
    const resolved = await resolveChains(
      request,
      async (type, query) => {
        inner.push([type, query.filter]);
        return ['s1', 's2'];
      },
      NOW,
    );
    expect(inner).toEqual([['Schedule', { $and: [{ 's.actor': { $in: ['Practitioner/x'] } }] }]]);
    expect(resolved.filters).toEqual([{ kind: 'reference', code: 'schedule', values: ['Schedule/s1', 'Schedule/s2'] }]);
    expect(toFilter(resolved.filters, NOW)).toEqual({ $and: [{ 's.schedule': { $in: ['Schedule/s1', 'Schedule/s2'] } }] });
  });
});
