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

interface EntryJson {
  fullUrl: string;
  resource: { id: string; resourceType: string };
  search: { mode: 'match' | 'include' };
}

async function search(path: string): Promise<Response> {
  const res = await request(t.app).get(`/fhir/${path}`);
  if (res.status !== 200) throw new Error(`search ${path} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** `mode Type/id` for every entry, sorted, so the assertion does not depend on entry order. */
async function entries(path: string): Promise<string[]> {
  const res = await search(path);
  return ((res.body.entry ?? []) as EntryJson[]).map((e) => `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`).sort();
}

function expected(...items: string[]): string[] {
  return [...items].sort();
}

let practitioner: string;
let otherPractitioner: string;
let patient: string;
let room: string;
let role: string;
let schedule: string;
let slotFree: string;
let slotBooked: string;
let appointment: string;

beforeAll(async () => {
  t = await startTestApp();
  practitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Include' }] });
  otherPractitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Bystander' }] });
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Included' }] });
  room = await create({ resourceType: 'Location', name: 'Room 7' });
  role = await create({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${practitioner}` } });
  schedule = await create({
    resourceType: 'Schedule',
    actor: [{ reference: `Practitioner/${practitioner}` }, { reference: `Location/${room}` }],
  });
  const slot = (start: string, end: string): Record<string, unknown> => ({
    resourceType: 'Slot',
    schedule: { reference: `Schedule/${schedule}` },
    status: 'free',
    start,
    end,
  });
  slotFree = await create(slot('2031-03-03T09:00:00Z', '2031-03-03T09:30:00Z'));
  slotBooked = await create(slot('2031-03-03T10:00:00Z', '2031-03-03T10:30:00Z'));
  // `proposed`: no time is taken, so the booking engine leaves the Slot as it is.
  appointment = await create({
    resourceType: 'Appointment',
    status: 'proposed',
    start: '2031-03-03T10:00:00Z',
    end: '2031-03-03T10:30:00Z',
    slot: [{ reference: `Slot/${slotBooked}` }],
    participant: [
      { actor: { reference: `Practitioner/${practitioner}` }, status: 'needs-action' },
      { actor: { reference: `Patient/${patient}` }, status: 'accepted' },
      { actor: { reference: `Location/${room}` }, status: 'accepted' },
    ],
  });
});

afterAll(async () => {
  await t.close();
});

describe('_include', () => {
  it('Slot:schedule adds each Schedule once, marked include', async () => {
    const res = await search('Slot?_include=Slot:schedule');
    const list = (res.body.entry as EntryJson[]).map((e) => `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`);
    expect(list.sort()).toEqual(expected(`match Slot/${slotFree}`, `match Slot/${slotBooked}`, `include Schedule/${schedule}`));
    // Included resources do not count toward total (R4 search.html#include).
    expect(res.body.total).toBe(2);
    const included = (res.body.entry as EntryJson[]).find((e) => e.search.mode === 'include');
    expect(included?.fullUrl).toBe(`${BASE_URL}/Schedule/${schedule}`);
  });

  it('Appointment:slot, Appointment:patient and Appointment:actor', async () => {
    expect(await entries('Appointment?_include=Appointment:slot')).toEqual(
      expected(`match Appointment/${appointment}`, `include Slot/${slotBooked}`),
    );
    expect(await entries('Appointment?_include=Appointment:patient')).toEqual(
      expected(`match Appointment/${appointment}`, `include Patient/${patient}`),
    );
    expect(await entries('Appointment?_include=Appointment:actor')).toEqual(
      expected(
        `match Appointment/${appointment}`,
        `include Practitioner/${practitioner}`,
        `include Patient/${patient}`,
        `include Location/${room}`,
      ),
    );
  });

  it('a target type narrows Appointment:actor', async () => {
    expect(await entries('Appointment?_include=Appointment:actor:Location')).toEqual(
      expected(`match Appointment/${appointment}`, `include Location/${room}`),
    );
  });

  it('Schedule:actor and PractitionerRole:practitioner', async () => {
    expect(await entries(`Schedule?_id=${schedule}&_include=Schedule:actor`)).toEqual(
      expected(`match Schedule/${schedule}`, `include Practitioner/${practitioner}`, `include Location/${room}`),
    );
    expect(await entries('PractitionerRole?_include=PractitionerRole:practitioner')).toEqual(
      expected(`match PractitionerRole/${role}`, `include Practitioner/${practitioner}`),
    );
  });

  it('several _include parameters add up; :iterate follows the included resources', async () => {
    expect(await entries(`Slot?_id=${slotFree}&_include=Slot:schedule&_include:iterate=Schedule:actor`)).toEqual(
      expected(`match Slot/${slotFree}`, `include Schedule/${schedule}`, `include Practitioner/${practitioner}`, `include Location/${room}`),
    );
    expect(await entries(`Slot?_id=${slotFree}&_include=Slot:schedule`)).toEqual(
      expected(`match Slot/${slotFree}`, `include Schedule/${schedule}`),
    );
  });

  it('does not include deleted targets', async () => {
    const gone = await create({ resourceType: 'Practitioner', name: [{ family: 'Gone' }] });
    const role2 = await create({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${gone}` } });
    await request(t.app).delete(`/fhir/Practitioner/${gone}`);
    expect(await entries(`PractitionerRole?_id=${role2}&_include=PractitionerRole:practitioner`)).toEqual([`match PractitionerRole/${role2}`]);
  });

  it('returns 400 for a malformed _include and for one whose source is another type', async () => {
    const malformed = await request(t.app).get('/fhir/Slot?_include=schedule');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', diagnostics: 'Invalid _include "schedule": expected SourceType:parameter[:TargetType]' }],
    });
    const otherSource = await request(t.app).get('/fhir/Slot?_include=Appointment:slot');
    expect(otherSource.status).toBe(400);
    expect(otherSource.body.issue[0].diagnostics).toContain('the source type must be Slot');
    const notReference = await request(t.app).get('/fhir/Slot?_include=Slot:status');
    expect(notReference.status).toBe(400);
  });
});

describe('_revinclude', () => {
  it('Appointment:slot on Slot adds the appointments that use each slot', async () => {
    expect(await entries('Slot?_revinclude=Appointment:slot')).toEqual(
      expected(`match Slot/${slotFree}`, `match Slot/${slotBooked}`, `include Appointment/${appointment}`),
    );
  });

  it('Slot:schedule on Schedule and PractitionerRole:practitioner on Practitioner', async () => {
    expect(await entries(`Schedule?_id=${schedule}&_revinclude=Slot:schedule`)).toEqual(
      expected(`match Schedule/${schedule}`, `include Slot/${slotFree}`, `include Slot/${slotBooked}`),
    );
    expect(await entries(`Practitioner?_id=${practitioner},${otherPractitioner}&_revinclude=PractitionerRole:practitioner`)).toEqual(
      expected(`match Practitioner/${practitioner}`, `match Practitioner/${otherPractitioner}`, `include PractitionerRole/${role}`),
    );
  });

  it('_include and _revinclude combine', async () => {
    expect(await entries(`Slot?_id=${slotBooked}&_include=Slot:schedule&_revinclude=Appointment:slot`)).toEqual(
      expected(`match Slot/${slotBooked}`, `include Schedule/${schedule}`, `include Appointment/${appointment}`),
    );
  });

  it('returns 400 for a reverse include whose parameter cannot point at the searched type', async () => {
    const res = await request(t.app).get('/fhir/Patient?_revinclude=Appointment:slot');
    expect(res.status).toBe(400);
    expect(res.body.issue).toEqual([
      expect.objectContaining({ code: 'value', diagnostics: 'Invalid _revinclude "Appointment:slot": Appointment:slot does not refer to Patient' }),
    ]);
  });
});

describe('include with _summary and _elements', () => {
  it('applies _elements to included resources too, marking each SUBSETTED', async () => {
    const res = await search(`Slot?_id=${slotFree}&_include=Slot:schedule&_elements=status`);
    const list = res.body.entry as Array<{ resource: { resourceType: string; meta: { tag?: Array<{ code: string }> } } }>;
    expect(list.map((e) => e.resource.resourceType).sort()).toEqual(['Schedule', 'Slot']);
    for (const e of list) expect(e.resource.meta.tag?.map((tag) => tag.code)).toEqual(['SUBSETTED']);
  });

  it('_summary=count returns no included resources', async () => {
    const res = await search('Slot?_include=Slot:schedule&_summary=count');
    expect(res.body.total).toBe(2);
    expect(res.body.entry).toBeUndefined();
  });
});
