import request from 'supertest';
import type { Response } from 'supertest';
import { BASE_URL, FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

let t: TestApp;

async function create(resource: Record<string, unknown>): Promise<string> {
  const res = await request(t.app)
    .post(`/fhir/${String(resource['resourceType'])}`)
    .set('Content-Type', FHIR_JSON)
    .send(JSON.stringify(resource));
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return String(res.body.id);
}

function search(path: string): Promise<Response> {
  return request(t.app).get(`/fhir/${path}`);
}

interface EntryJson {
  resource: { id: string; resourceType: string };
  search?: { mode: string };
}

/** The ids of the matches, in order. */
async function ids(path: string): Promise<string[]> {
  const res = await search(path);
  if (res.status !== 200) throw new Error(`search ${path} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return ((res.body.entry ?? []) as EntryJson[]).map((e) => e.resource.id);
}

async function idSet(path: string): Promise<string[]> {
  return (await ids(path)).sort();
}

function sorted(...values: string[]): string[] {
  return [...values].sort();
}

function selfLink(res: Response): string {
  const link = (res.body.link as Array<{ relation: string; url: string }>).find((l) => l.relation === 'self');
  return decodeURIComponent(String(link?.url));
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let p1: string;
let p2: string;
let p3: string;
let midTime: string;
let scheduleA: string;
let scheduleB: string;
let scheduleC: string;
let s1: string;
let s2: string;
let s3: string;
let s4: string;
let hospital: string;
let clinic: string;
let apptA: string;
let apptB: string;

beforeAll(async () => {
  t = await startTestApp();
  p1 = await create({
    resourceType: 'Practitioner',
    identifier: [{ system: 'urn:npi', value: '111' }],
    active: true,
    gender: 'female',
    name: [{ family: 'Müller', given: ['Anna'] }],
  });
  p2 = await create({
    resourceType: 'Practitioner',
    identifier: [{ value: '111' }],
    active: false,
    gender: 'male',
    name: [{ family: 'Mueller', given: ['Hans'] }],
  });
  await wait(15);
  midTime = new Date().toISOString();
  await wait(15);
  p3 = await create({
    resourceType: 'Practitioner',
    identifier: [{ system: 'urn:other', value: '222' }],
    gender: 'other',
    name: [{ family: 'Smithson', given: ['Zed'] }],
    telecom: [{ system: 'email', value: 'zed@example.org' }],
  });
  hospital = await create({
    resourceType: 'Location',
    name: 'Main',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'HOSP', display: 'Hospital' }], text: 'Main hospital building' }],
  });
  clinic = await create({
    resourceType: 'Location',
    name: 'Side',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'AMB', display: 'Ambulance' }] }],
  });
  scheduleA = await create({
    resourceType: 'Schedule',
    actor: [{ reference: `Practitioner/${p1}` }],
    planningHorizon: { start: '2030-01-10T08:00:00Z', end: '2030-01-10T18:00:00Z' },
  });
  scheduleB = await create({
    resourceType: 'Schedule',
    actor: [{ reference: `Practitioner/${p2}` }, { reference: `Location/${hospital}` }],
    planningHorizon: { start: '2030-01-01', end: '2030-01-31' },
  });
  scheduleC = await create({
    resourceType: 'Schedule',
    active: false,
    actor: [{ reference: `Practitioner/${p3}` }],
    planningHorizon: { start: '2030-02-01T00:00:00Z' },
  });
  const slot = (schedule: string, start: string, end: string, status = 'free'): Record<string, unknown> => ({
    resourceType: 'Slot',
    schedule: { reference: `Schedule/${schedule}` },
    status,
    start,
    end,
  });
  s1 = await create(slot(scheduleA, '2030-01-10T09:00:00Z', '2030-01-10T09:30:00Z'));
  s2 = await create(slot(scheduleA, '2030-01-10T10:00:00Z', '2030-01-10T10:30:00Z', 'busy'));
  s3 = await create(slot(scheduleB, '2030-01-11T09:00:00Z', '2030-01-11T09:30:00Z'));
  s4 = await create(slot(scheduleB, '2030-08-01T09:00:00Z', '2030-08-01T09:30:00Z', 'busy-tentative'));
  apptA = await create({
    resourceType: 'Appointment',
    status: 'proposed',
    start: '2030-01-10T09:00:00Z',
    end: '2030-01-10T09:30:00Z',
    slot: [{ reference: `Slot/${s1}` }],
    participant: [
      { actor: { reference: `Practitioner/${p1}` }, status: 'needs-action' },
      { actor: { reference: `Location/${hospital}` }, status: 'accepted' },
    ],
  });
  apptB = await create({
    resourceType: 'Appointment',
    status: 'cancelled',
    start: '2030-01-11T09:00:00Z',
    end: '2030-01-11T09:30:00Z',
    participant: [{ actor: { reference: `Practitioner/${p3}` }, status: 'declined' }],
  });
});

afterAll(async () => {
  await t.close();
});

describe('string parameters', () => {
  it('match the start of any name part, ignoring case and accents', async () => {
    expect(await idSet('Practitioner?name=mu')).toEqual(sorted(p1, p2));
    expect(await idSet('Practitioner?name=MÜLL')).toEqual([p1]);
    expect(await idSet('Practitioner?given=ann')).toEqual([p1]);
    expect(await idSet('Practitioner?name=ell')).toEqual([]);
  });

  it(':contains matches anywhere, :exact only the whole value with case and accents', async () => {
    expect(await idSet('Practitioner?name:contains=ell')).toEqual([p2]);
    expect(await idSet('Practitioner?family:exact=Müller')).toEqual([p1]);
    expect(await idSet('Practitioner?family:exact=müller')).toEqual([]);
    expect(await idSet('Practitioner?family:exact=Müll')).toEqual([]);
  });
});

describe('token parameters', () => {
  it('code, system|code, |code and system| select by system', async () => {
    expect(await idSet('Practitioner?identifier=111')).toEqual(sorted(p1, p2));
    expect(await idSet('Practitioner?identifier=urn:npi|111')).toEqual([p1]);
    expect(await idSet('Practitioner?identifier=|111')).toEqual([p2]);
    expect(await idSet('Practitioner?identifier=urn:other|')).toEqual([p3]);
    expect(await idSet('Practitioner?email=zed@example.org')).toEqual([p3]);
  });

  it(':not excludes the value and keeps resources without the element', async () => {
    expect(await idSet('Practitioner?active:not=true')).toEqual(sorted(p2, p3));
    expect(await idSet('Practitioner?gender:not=female,male')).toEqual([p3]);
  });

  it(':text matches the start of a word of the display or text', async () => {
    expect(await idSet('Location?type:text=hospital')).toEqual([hospital]);
    expect(await idSet('Location?type:text=build')).toEqual([hospital]);
    expect(await idSet('Location?type:text=ambul')).toEqual([clinic]);
    expect(await idSet('Location?type:text=ital')).toEqual([]);
  });

  it('booleans are tokens', async () => {
    expect(await idSet('Practitioner?active=true')).toEqual([p1]);
    expect(await idSet('Schedule?active=false')).toEqual([scheduleC]);
  });
});

describe('OR and AND', () => {
  it('a comma is OR, a repeated parameter is AND', async () => {
    expect(await idSet('Practitioner?gender=female,male')).toEqual(sorted(p1, p2));
    expect(await idSet('Practitioner?name=mu&gender=male')).toEqual([p2]);
    expect(await idSet('Practitioner?identifier=111&identifier=urn:npi|111')).toEqual([p1]);
    expect(await idSet('Slot?status=free,busy&status=busy,busy-tentative')).toEqual([s2]);
  });

  it('an escaped comma is part of the value, not a separator', async () => {
    const id = await create({ resourceType: 'Organization', name: 'Smith, Jones and Co' });
    expect(await idSet('Organization?name=smith\\, jones')).toEqual([id]);
    expect(await idSet('Organization?name=smith, jones')).toEqual([id]);
    expect(await idSet('Organization?name=jones')).toEqual([]);
  });
});

describe(':missing', () => {
  it('true finds resources without the element, false those with it', async () => {
    expect(await idSet('Practitioner?active:missing=true')).toEqual([p3]);
    expect(await idSet('Practitioner?active:missing=false')).toEqual(sorted(p1, p2));
    expect(await idSet('Schedule?date:missing=false')).toEqual(sorted(scheduleA, scheduleB, scheduleC));
  });

  it('returns 400 for a value other than true or false', async () => {
    const res = await search('Practitioner?active:missing=maybe');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', diagnostics: 'Invalid value "maybe" for "active:missing": expected true or false' }],
    });
  });
});

describe('reference parameters', () => {
  it('accept Type/id, a bare id, an absolute URL on this server and the :Type modifier', async () => {
    expect(await idSet(`Slot?schedule=Schedule/${scheduleA}`)).toEqual(sorted(s1, s2));
    expect(await idSet(`Slot?schedule=${scheduleA}`)).toEqual(sorted(s1, s2));
    expect(await idSet(`Slot?schedule=${encodeURIComponent(`${BASE_URL}/Schedule/${scheduleA}`)}`)).toEqual(sorted(s1, s2));
    expect(await idSet(`Schedule?actor:Practitioner=${p2}`)).toEqual([scheduleB]);
    expect(await idSet(`Schedule?actor=Location/${hospital}`)).toEqual([scheduleB]);
    expect(await idSet(`Appointment?practitioner=${p1}`)).toEqual([apptA]);
    expect(await idSet(`Appointment?location=Location/${hospital}`)).toEqual([apptA]);
    expect(await idSet(`Appointment?slot=Slot/${s1}`)).toEqual([apptA]);
  });

  it('reads a bare id on a parameter with several target types as any of those types', async () => {
    expect(await idSet(`Schedule?actor=${p1}`)).toEqual([scheduleA]);
    expect(await idSet(`Appointment?actor=${hospital}`)).toEqual([apptA]);
  });

  it('returns 400 for a bare id on a parameter that can point at any type', async () => {
    const res = await search('AuditEvent?entity=abc');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'value',
          diagnostics: 'Search parameter "entity" can refer to any type: give the reference as Type/id, not "abc"',
        },
      ],
    });
  });

  it('chain one level: Slot?schedule.actor=Practitioner/x and Appointment?actor:Practitioner.family=x', async () => {
    expect(await idSet(`Slot?schedule.actor=Practitioner/${p1}`)).toEqual(sorted(s1, s2));
    expect(await idSet(`Slot?schedule.actor=Location/${hospital}`)).toEqual(sorted(s3, s4));
    expect(await idSet('Appointment?actor:Practitioner.family=Smithson')).toEqual([apptB]);
    expect(await idSet('Appointment?practitioner.name=mü')).toEqual([apptA]);
    expect(await idSet('Slot?schedule.active=false')).toEqual([]);
  });

  it('returns 400 for a chain deeper than one level', async () => {
    const res = await search('Slot?schedule.actor.name=x');
    expect(res.status).toBe(400);
    expect(res.body.issue).toEqual([expect.objectContaining({ code: 'not-supported', diagnostics: expect.stringContaining('one level') })]);
  });
});

describe('date parameters (R4 search.html#prefix)', () => {
  // Slot starts: s1 2030-01-10T09:00, s2 2030-01-10T10:00, s3 2030-01-11T09:00, s4 2030-08-01T09:00.
  // The search value 2030-01-10T10:00 is minute-precise: the range [10:00, 10:01).
  const value = '2030-01-10T10:00Z';
  it.each([
    ['eq', ['s2']],
    ['ne', ['s1', 's3', 's4']],
    ['gt', ['s3', 's4']],
    ['lt', ['s1']],
    ['ge', ['s2', 's3', 's4']],
    ['le', ['s1', 's2']],
    ['sa', ['s3', 's4']],
    ['eb', ['s1']],
    // ap: 10% of the gap between now (2020s) and 2030-01-10, several months either side.
    ['ap', ['s1', 's2', 's3']],
  ])('%s selects %j', async (prefix, expected) => {
    const byName: Record<string, string> = { s1, s2, s3, s4 };
    expect(await idSet(`Slot?start=${prefix}${encodeURIComponent(value)}`)).toEqual(sorted(...expected.map((n) => byName[n] ?? '')));
  });

  it('a day-precise value covers the whole day; no prefix means eq', async () => {
    expect(await idSet('Slot?start=2030-01-10')).toEqual(sorted(s1, s2));
    expect(await idSet('Slot?start=2030-01')).toEqual(sorted(s1, s2, s3));
    expect(await idSet('Slot?start=2030')).toEqual(sorted(s1, s2, s3, s4));
  });

  it('honours the zone of the search value', async () => {
    expect(await idSet(`Slot?start=${encodeURIComponent('2030-01-10T12:00:00+02:00')}`)).toEqual([s2]);
  });

  it('Kairos end: start=lt{b}&end=gt{a} finds the slots that overlap [a, b)', async () => {
    expect(await idSet('Slot?start=lt2030-01-10T10:45:00Z&end=gt2030-01-10T10:15:00Z')).toEqual([s2]);
    expect(await idSet('Slot?start=lt2030-01-10T10:00:00Z&end=gt2030-01-10T09:00:00Z')).toEqual([s1]);
    expect(await idSet('Appointment?end=2030-01-10T09:30:00Z')).toEqual([apptA]);
  });

  it('Schedule?date compares the planning horizon as a Period (eq: the horizon lies inside the day)', async () => {
    expect(await idSet('Schedule?date=2030-01-10')).toEqual([scheduleA]);
    expect(await idSet('Schedule?date=ge2030-01-10&date=le2030-01-10')).toEqual(sorted(scheduleA, scheduleB));
    // An open end is +∞.
    expect(await idSet('Schedule?date=gt2099-01-01')).toEqual([scheduleC]);
    expect(await idSet('Schedule?date=sa2030-01-31')).toEqual([scheduleC]);
    expect(await idSet('Schedule?date=eb2030-02-01')).toEqual(sorted(scheduleA, scheduleB));
  });

  it('Appointment?date is the start', async () => {
    expect(await idSet('Appointment?date=2030-01-11')).toEqual([apptB]);
    expect(await idSet('Appointment?date=ge2030-01-10&status=proposed')).toEqual([apptA]);
  });

  it('returns 400 for a value that is not a date and for an unknown prefix', async () => {
    const bad = await search('Slot?start=tomorrow');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', diagnostics: expect.stringContaining('Unknown prefix "to"') }],
    });
    const notDate = await search('Slot?start=2030-13-01');
    expect(notDate.status).toBe(400);
    expect(notDate.body.issue).toEqual([expect.objectContaining({ code: 'value', diagnostics: expect.stringContaining('Invalid date "2030-13-01"') })]);
  });
});

describe('_id and _lastUpdated', () => {
  it('_id takes a list of ids', async () => {
    expect(await idSet(`Practitioner?_id=${p1},${p3}`)).toEqual(sorted(p1, p3));
    expect(await idSet('Practitioner?_id=nobody')).toEqual([]);
  });

  it('_lastUpdated uses the date prefixes', async () => {
    expect(await idSet(`Practitioner?_lastUpdated=gt${encodeURIComponent(midTime)}`)).toEqual([p3]);
    expect(await idSet(`Practitioner?_lastUpdated=lt${encodeURIComponent(midTime)}`)).toEqual(sorted(p1, p2));
    expect(await idSet('Practitioner?_lastUpdated=lt2000-01-01')).toEqual([]);
  });
});

describe('_sort', () => {
  it('sorts ascending and, with -, descending', async () => {
    expect(await ids('Slot?_sort=start')).toEqual([s1, s2, s3, s4]);
    expect(await ids('Slot?_sort=-start')).toEqual([s4, s3, s2, s1]);
    expect(await ids('Practitioner?_sort=family')).toEqual([p2, p1, p3]);
  });

  it('sorts by several keys in order', async () => {
    // By schedule (A before B or B before A, whichever id is smaller), then latest start first.
    const bySchedule = [scheduleA, scheduleB].sort();
    const slotsOf: Record<string, string[]> = { [scheduleA]: [s2, s1], [scheduleB]: [s4, s3] };
    const expected = bySchedule.flatMap((s) => slotsOf[s] ?? []);
    expect(await ids('Slot?_sort=schedule,-start')).toEqual(expected);
    expect(await ids('Slot?_sort=status,start')).toEqual([s2, s4, s1, s3]);
  });

  it('returns 400 for a sort key that is not a parameter of the type', async () => {
    const res = await search('Slot?_sort=colour');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'invalid', diagnostics: 'Unknown _sort parameter "colour" for Slot' }],
    });
  });
});

describe('_count and _total', () => {
  it('limits the page but not the total; defaults to 50 and caps at 1000', async () => {
    const one = await search('Slot?_count=1&_sort=start');
    expect(one.body.total).toBe(4);
    expect(one.body.entry).toHaveLength(1);
    expect(selfLink(await search('Slot'))).toContain('_count=50');
    expect(selfLink(await search('Slot?_count=5000'))).toContain('_count=1000');
  });

  it('_count=0 and _summary=count answer the total without entries', async () => {
    for (const path of ['Slot?_count=0', 'Slot?_summary=count']) {
      const res = await search(path);
      expect(res.body.total).toBe(4);
      expect(res.body.entry).toBeUndefined();
    }
  });

  it('_total=none leaves the total out; accurate and estimate keep it', async () => {
    expect((await search('Slot?_total=none')).body.total).toBeUndefined();
    expect((await search('Slot?_total=accurate')).body.total).toBe(4);
    expect((await search('Slot?_total=estimate')).body.total).toBe(4);
  });

  it('returns 400 for a _count that is not a whole number', async () => {
    const res = await search('Slot?_count=-1');
    expect(res.status).toBe(400);
    expect(res.body.issue).toEqual([expect.objectContaining({ code: 'value', diagnostics: expect.stringContaining('_count') })]);
  });
});

describe('unknown parameters and the self link', () => {
  it('are ignored and left out of the self link by default', async () => {
    const res = await search('Slot?status=free&colour=blue&schedule.colour=x');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
    const self = selfLink(res);
    expect(self).toBe(`${BASE_URL}/Slot?status=free&_count=50`);
  });

  it('are a 400 under Prefer: handling=strict', async () => {
    const res = await request(t.app).get('/fhir/Slot?status=free&colour=blue').set('Prefer', 'handling=strict');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'invalid', diagnostics: 'Unknown search parameter "colour" for Slot (Prefer: handling=strict)' },
      ],
    });
  });

  it('a known parameter is accepted under handling=strict', async () => {
    const res = await request(t.app).get('/fhir/Slot?status=free').set('Prefer', 'handling=strict');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
  });

  it('an unknown modifier is a 400 even when lenient', async () => {
    const res = await search('Practitioner?name:sounds-like=x');
    expect(res.status).toBe(400);
    expect(res.body.issue).toEqual([expect.objectContaining({ code: 'invalid', diagnostics: expect.stringContaining(':sounds-like') })]);
  });
});

describe('POST _search', () => {
  it('takes form-encoded parameters, joined to those in the URL', async () => {
    const res = await request(t.app)
      .post(`/fhir/Slot/_search?schedule=Schedule/${scheduleA}`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('status=busy');
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('searchset');
    expect((res.body.entry as EntryJson[]).map((e) => e.resource.id)).toEqual([s2]);
    expect(selfLink(res)).toBe(`${BASE_URL}/Slot?schedule=Schedule/${scheduleA}&status=busy&_count=50`);
  });

  it('GET [type]/_search works like GET [type]', async () => {
    expect(await idSet('Slot/_search?status=busy')).toEqual([s2]);
  });
});

describe('search results', () => {
  it('is a searchset with absolute fullUrls and search.mode match', async () => {
    const res = await search(`Slot?_id=${s1}`);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toMatchObject({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 1,
      entry: [{ fullUrl: `${BASE_URL}/Slot/${s1}`, resource: { resourceType: 'Slot', id: s1 }, search: { mode: 'match' } }],
    });
  });

  it('a value that looks like an operator is just a string that matches nothing', async () => {
    for (const v of ['{"$ne":null}', '$ne', '[$ne]', '.*']) {
      const res = await search(`Practitioner?name=${encodeURIComponent(v)}`);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(0);
    }
    expect(await idSet(`Practitioner?_id=${encodeURIComponent('{"$ne":""}')}`)).toEqual([]);
  });
});
