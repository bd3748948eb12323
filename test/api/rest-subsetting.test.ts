import request from 'supertest';
import { FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

let t: TestApp;
let id: string;

const SUBSETTED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'Resource content has been reduced',
};

beforeAll(async () => {
  t = await startTestApp();
  const res = await request(t.app)
    .post('/fhir/Patient')
    .set('Content-Type', FHIR_JSON)
    .send(
      JSON.stringify({
        resourceType: 'Patient',
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ada Lovelace</div>' },
        active: true,
        name: [{ family: 'Lovelace', given: ['Ada'] }],
        gender: 'female',
        birthDate: '1815-12-10',
        maritalStatus: { text: 'Married' },
        deceasedBoolean: true,
        multipleBirthBoolean: false,
        communication: [{ language: { text: 'English' } }],
      }),
    );
  id = String(res.body.id);
});

afterAll(async () => {
  await t.close();
});

describe('_format', () => {
  it('json, application/json and application/fhir+json answer JSON', async () => {
    for (const format of ['json', 'application/json', 'application/fhir+json']) {
      const res = await request(t.app).get(`/fhir/Patient/${id}?_format=${encodeURIComponent(format)}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.body.id).toBe(id);
    }
  });

  it('xml is 406 with an OperationOutcome, and _format overrides Accept', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_format=xml`).set('Accept', 'application/fhir+json');
    expect(res.status).toBe(406);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-supported', diagnostics: '_format "xml" is not supported; Kairos serves JSON' }],
    });
    const ok = await request(t.app).get(`/fhir/Patient/${id}?_format=json`).set('Accept', 'application/fhir+xml');
    expect(ok.status).toBe(200);
  });

  it('Accept of only XML is 406; */* and fhirVersion parameters are fine', async () => {
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('Accept', 'application/fhir+xml')).status).toBe(406);
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('Accept', '*/*')).status).toBe(200);
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('Accept', 'application/fhir+json; fhirVersion=4.0')).status).toBe(200);
  });
});

describe('_pretty', () => {
  it('indents the JSON when true and not otherwise', async () => {
    const pretty = await request(t.app).get(`/fhir/Patient/${id}?_pretty=true`);
    expect(pretty.text).toContain('\n  "resourceType": "Patient"');
    const plain = await request(t.app).get(`/fhir/Patient/${id}?_pretty=false`);
    expect(plain.text).not.toContain('\n');
    expect(JSON.parse(pretty.text)).toEqual(JSON.parse(plain.text));
  });

  it('also applies to search Bundles', async () => {
    const res = await request(t.app).get('/fhir/Patient?_pretty=true');
    expect(res.text.split('\n').length).toBeGreaterThan(10);
  });
});

describe('_summary', () => {
  it('true keeps the summary elements and marks the resource SUBSETTED', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_summary=true`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, active: true, gender: 'female', birthDate: '1815-12-10', name: [{ family: 'Lovelace' }] });
    // Not summary elements in R4 Patient.
    expect(res.body.text).toBeUndefined();
    expect(res.body.maritalStatus).toBeUndefined();
    expect(res.body.communication).toBeUndefined();
    expect(res.body.meta.tag).toEqual([SUBSETTED]);
  });

  it('text keeps text, id, meta and the mandatory and modifier elements only', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_summary=text`);
    // Patient.active and Patient.deceased[x] are modifier elements in R4.
    expect(Object.keys(res.body).sort()).toEqual(['active', 'deceasedBoolean', 'id', 'meta', 'resourceType', 'text']);
  });

  it('data removes the text only', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_summary=data`);
    expect(res.body.text).toBeUndefined();
    expect(res.body.maritalStatus).toEqual({ text: 'Married' });
  });

  it('false returns everything, unmarked', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_summary=false`);
    expect(res.body.text).toBeDefined();
    expect(res.body.meta.tag).toBeUndefined();
  });

  it('an unknown value is a 400', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_summary=brief`);
    expect(res.status).toBe(400);
    expect(res.body.issue).toEqual([expect.objectContaining({ code: 'value', diagnostics: expect.stringContaining('"brief"') })]);
  });

  it('applies to search results', async () => {
    const res = await request(t.app).get(`/fhir/Patient?_id=${id}&_summary=true`);
    const patient = res.body.entry[0].resource;
    expect(patient.text).toBeUndefined();
    expect(patient.meta.tag).toEqual([SUBSETTED]);
  });

  it('applies to vread', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}/_history/1?_summary=text`);
    expect(Object.keys(res.body).sort()).toEqual(['active', 'deceasedBoolean', 'id', 'meta', 'resourceType', 'text']);
  });
});

describe('_elements', () => {
  it('keeps only the named elements (plus id, meta and modifiers), a choice name keeps its typed element', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_elements=name,multipleBirth`);
    expect(Object.keys(res.body).sort()).toEqual(['active', 'deceasedBoolean', 'id', 'meta', 'multipleBirthBoolean', 'name', 'resourceType']);
    expect(res.body.meta.tag).toEqual([SUBSETTED]);
  });

  it('keeps mandatory elements (Slot.start is 1..1)', async () => {
    const slot = await request(t.app)
      .post('/fhir/Slot')
      .set('Content-Type', FHIR_JSON)
      .send(
        JSON.stringify({
          resourceType: 'Slot',
          schedule: { reference: 'Schedule/s' },
          status: 'free',
          start: '2031-01-01T09:00:00Z',
          end: '2031-01-01T09:15:00Z',
          comment: 'dropped',
        }),
      );
    const res = await request(t.app).get(`/fhir/Slot/${String(slot.body.id)}?_elements=status`);
    expect(res.body).toMatchObject({ status: 'free', start: '2031-01-01T09:00:00Z', end: '2031-01-01T09:15:00Z' });
    expect(res.body.comment).toBeUndefined();
  });

  it('an empty _elements is ignored', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}?_elements=`);
    expect(res.body.name).toEqual([{ family: 'Lovelace', given: ['Ada'] }]);
    expect(res.body.meta.tag).toBeUndefined();
  });

  it('is listed in the search self link', async () => {
    const res = await request(t.app).get(`/fhir/Patient?_id=${id}&_elements=gender`);
    const self = (res.body.link as Array<{ relation: string; url: string }>).find((l) => l.relation === 'self');
    expect(decodeURIComponent(String(self?.url))).toContain('_elements=gender');
    expect(Object.keys(res.body.entry[0].resource).sort()).toEqual(['active', 'deceasedBoolean', 'gender', 'id', 'meta', 'resourceType']);
  });
});
