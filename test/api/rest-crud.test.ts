import request from 'supertest';
import type { Response } from 'supertest';
import { BASE_URL, FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t.close();
});

function post(path: string, body: unknown): Promise<Response> {
  return request(t.app).post(path).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
}

function put(path: string, body: unknown): Promise<Response> {
  return request(t.app).put(path).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
}

function patch(path: string, operations: unknown): Promise<Response> {
  return request(t.app).patch(path).set('Content-Type', 'application/json-patch+json').send(JSON.stringify(operations));
}

/** The whole error body: one issue with this code, diagnostics containing `text`. */
function outcome(code: string, text: string): unknown {
  return {
    resourceType: 'OperationOutcome',
    issue: [expect.objectContaining({ severity: 'error', code, diagnostics: expect.stringContaining(text) })],
  };
}

async function createPatient(family: string): Promise<{ id: string; body: Record<string, unknown> }> {
  const res = await post('/fhir/Patient', { resourceType: 'Patient', name: [{ family }] });
  expect(res.status).toBe(201);
  return { id: String(res.body.id), body: res.body as Record<string, unknown> };
}

describe('create', () => {
  it('returns 201 with Location, ETag W/"1", Last-Modified and the stored resource', async () => {
    const res = await post('/fhir/Patient', { resourceType: 'Patient', id: 'client-chosen', name: [{ family: 'Create' }] });
    expect(res.status).toBe(201);
    const id = String(res.body.id);
    // R4 http.html#create: a body id is ignored; the server assigns one.
    expect(id).not.toBe('client-chosen');
    expect(res.headers['location']).toBe(`${BASE_URL}/Patient/${id}/_history/1`);
    expect(res.headers['etag']).toBe('W/"1"');
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(new Date(String(res.headers['last-modified'])).getTime()).toBe(
      Math.floor(Date.parse(String(res.body.meta.lastUpdated)) / 1000) * 1000,
    );
    expect(res.body).toMatchObject({ resourceType: 'Patient', meta: { versionId: '1' }, name: [{ family: 'Create' }] });
  });

  it('accepts application/json as well as application/fhir+json', async () => {
    const res = await request(t.app)
      .post('/fhir/Practitioner')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ resourceType: 'Practitioner', name: [{ family: 'Plainjson' }] }));
    expect(res.status).toBe(201);
    expect(res.body.resourceType).toBe('Practitioner');
  });

  it('returns 400 structure and writes nothing when the body is not JSON', async () => {
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', FHIR_JSON).send('{"resourceType": "Organization",');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('structure', 'not valid JSON'));
    const search = await request(t.app).get('/fhir/Organization');
    expect(search.body.total).toBe(0);
  });

  it('returns 400 and writes nothing when the body resourceType differs from the URL type', async () => {
    const res = await post('/fhir/Organization', { resourceType: 'Patient', name: [{ family: 'Wrongtype' }] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: `The body's resourceType "Patient" does not match the URL's type Organization`,
          expression: ['Organization.resourceType'],
        },
      ],
    });
    expect((await request(t.app).get('/fhir/Organization')).body.total).toBe(0);
    expect((await request(t.app).get('/fhir/Patient?family=Wrongtype')).body.total).toBe(0);
  });

  it('returns 422 and writes nothing when the resource breaks the R4 rules', async () => {
    // Slot.start and Slot.end are 1..1 in R4.
    const res = await post('/fhir/Slot', { resourceType: 'Slot', status: 'free', schedule: { reference: 'Schedule/x' } });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        expect.objectContaining({ severity: 'error', code: 'required', expression: ['Slot.start'] }),
        expect.objectContaining({ severity: 'error', code: 'required', expression: ['Slot.end'] }),
      ],
    });
    expect((await request(t.app).get('/fhir/Slot?schedule=Schedule/x')).body.total).toBe(0);
  });

  it('returns 400 structure and writes nothing for an element R4 does not define', async () => {
    const res = await post('/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Unknownelement' }], foo: 1 });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'structure', diagnostics: "Unknown element 'foo' in Patient", expression: ['Patient.foo'] }],
    });
    expect((await request(t.app).get('/fhir/Patient?family=Unknownelement')).body.total).toBe(0);
  });

  it('returns 400 when the body is a JSON array rather than a resource', async () => {
    const res = await post('/fhir/Patient', [{ resourceType: 'Patient' }]);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('structure', 'JSON object'));
  });
});

describe('read and vread', () => {
  it('returns the current version with ETag and Last-Modified', async () => {
    const { id } = await createPatient('Reader');
    const res = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('W/"1"');
    expect(res.headers['last-modified']).toBeDefined();
    expect(res.body).toMatchObject({ resourceType: 'Patient', id, name: [{ family: 'Reader' }] });
  });

  it('returns 404 not-found for an unknown id', async () => {
    const res = await request(t.app).get('/fhir/Patient/does-not-exist');
    expect(res.status).toBe(404);
    expect(res.body).toEqual(outcome('not-found', 'Patient/does-not-exist'));
  });

  it('returns 400 for an id that is not a FHIR id', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${'x'.repeat(65)}`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('value', 'not a valid Patient id'));
  });

  it('vreads every version and answers 404 for a version that never existed', async () => {
    const { id } = await createPatient('Vread1');
    await put(`/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Vread2' }] });
    const v1 = await request(t.app).get(`/fhir/Patient/${id}/_history/1`);
    expect(v1.status).toBe(200);
    expect(v1.headers['etag']).toBe('W/"1"');
    expect(v1.body).toMatchObject({ id, meta: { versionId: '1' }, name: [{ family: 'Vread1' }] });
    const v2 = await request(t.app).get(`/fhir/Patient/${id}/_history/2`);
    expect(v2.body).toMatchObject({ meta: { versionId: '2' }, name: [{ family: 'Vread2' }] });
    const v9 = await request(t.app).get(`/fhir/Patient/${id}/_history/9`);
    expect(v9.status).toBe(404);
    expect(v9.body).toEqual(outcome('not-found', 'has no version "9"'));
    const bad = await request(t.app).get(`/fhir/Patient/${id}/_history/abc`);
    expect(bad.status).toBe(404);
  });

  it('answers HEAD on read with the headers and no body', async () => {
    const { id } = await createPatient('Header');
    const res = await request(t.app).head(`/fhir/Patient/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('W/"1"');
    expect(res.text ?? '').toBe('');
  });
});

describe('update', () => {
  it('returns 200 with the next version and Location', async () => {
    const { id } = await createPatient('Before');
    const res = await put(`/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'After' }] });
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('W/"2"');
    expect(res.headers['location']).toBe(`${BASE_URL}/Patient/${id}/_history/2`);
    expect(res.body).toMatchObject({ id, meta: { versionId: '2' }, name: [{ family: 'After' }] });
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).body.name).toEqual([{ family: 'After' }]);
  });

  it('ignores meta.versionId and lastUpdated in the body', async () => {
    const { id } = await createPatient('Meta');
    const res = await put(`/fhir/Patient/${id}`, {
      resourceType: 'Patient',
      id,
      meta: { versionId: '77', lastUpdated: '2001-01-01T00:00:00Z' },
      name: [{ family: 'Meta2' }],
    });
    expect(res.status).toBe(200);
    expect(res.body.meta.versionId).toBe('2');
    expect(res.body.meta.lastUpdated).not.toBe('2001-01-01T00:00:00Z');
  });

  it('creates with 201 when the id is new (update-as-create)', async () => {
    const res = await put('/fhir/Location/loc-put-new', { resourceType: 'Location', id: 'loc-put-new', name: 'Room 1' });
    expect(res.status).toBe(201);
    expect(res.headers['location']).toBe(`${BASE_URL}/Location/loc-put-new/_history/1`);
    expect(res.headers['etag']).toBe('W/"1"');
    expect((await request(t.app).get('/fhir/Location/loc-put-new')).body.name).toBe('Room 1');
  });

  it('returns 400 and changes nothing when the body id differs from the URL id', async () => {
    const { id } = await createPatient('Mismatch');
    const res = await put(`/fhir/Patient/${id}`, { resourceType: 'Patient', id: 'other', name: [{ family: 'Changed' }] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: `The body's id "other" does not match the URL id "${id}"`,
          expression: ['Patient.id'],
        },
      ],
    });
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.name).toEqual([{ family: 'Mismatch' }]);
  });

  it('returns 400 when the body has no id', async () => {
    const { id } = await createPatient('Noid');
    const res = await put(`/fhir/Patient/${id}`, { resourceType: 'Patient', name: [{ family: 'Changed' }] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('invalid', 'must carry the id'));
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('1');
  });
});

describe('patch (JSON Patch)', () => {
  it('applies the operations as a new version', async () => {
    const { id } = await createPatient('Patchme');
    const res = await patch(`/fhir/Patient/${id}`, [
      { op: 'replace', path: '/name/0/family', value: 'Patched' },
      { op: 'add', path: '/active', value: true },
    ]);
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('W/"2"');
    expect(res.body).toMatchObject({ id, active: true, meta: { versionId: '2' }, name: [{ family: 'Patched' }] });
  });

  it('returns 422 and changes nothing when a test operation fails, also when earlier ops applied', async () => {
    const { id } = await createPatient('Atomic');
    const res = await patch(`/fhir/Patient/${id}`, [
      { op: 'replace', path: '/name/0/family', value: 'Halfway' },
      { op: 'test', path: '/name/0/family', value: 'Atomic' },
    ]);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcome('processing', 'JSON Patch could not be applied'));
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.name).toEqual([{ family: 'Atomic' }]);
  });

  it('returns 400 for a patch that is not an array of operations', async () => {
    const { id } = await createPatient('Notarray');
    const res = await patch(`/fhir/Patient/${id}`, { op: 'replace', path: '/active', value: true });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('structure', 'array of operations'));
  });

  it('returns 400 for an unknown patch operation', async () => {
    const { id } = await createPatient('Badop');
    const res = await patch(`/fhir/Patient/${id}`, [{ op: 'frobnicate', path: '/active' }]);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('structure', 'Invalid JSON Patch'));
  });

  it('returns 422 and changes nothing when the patch would change the id', async () => {
    const { id } = await createPatient('Keepid');
    const res = await patch(`/fhir/Patient/${id}`, [{ op: 'replace', path: '/id', value: 'stolen' }]);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcome('invalid', 'may not change the resource type or id'));
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('1');
    expect((await request(t.app).get('/fhir/Patient/stolen')).status).toBe(404);
  });

  it('returns 404 when patching a resource that does not exist', async () => {
    const res = await patch('/fhir/Patient/never-there', [{ op: 'add', path: '/active', value: true }]);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(outcome('not-found', 'Patient/never-there'));
  });

  it('returns 415 for a patch sent as application/xml-patch+xml', async () => {
    const { id } = await createPatient('Xmlpatch');
    const res = await request(t.app).patch(`/fhir/Patient/${id}`).set('Content-Type', 'application/xml-patch+xml').send('<diff/>');
    expect(res.status).toBe(415);
    expect(res.body).toEqual(outcome('not-supported', 'application/xml-patch+xml'));
  });
});

describe('delete', () => {
  it('returns 200, then read is 410, search no longer finds it, and PUT revives it', async () => {
    const { id } = await createPatient('Deleteme');
    const del = await request(t.app).delete(`/fhir/Patient/${id}`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', diagnostics: `Deleted Patient/${id}` }],
    });
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(read.status).toBe(410);
    expect(read.body).toEqual(outcome('deleted', 'was deleted'));
    expect((await request(t.app).get(`/fhir/Patient?_id=${id}`)).body.total).toBe(0);
    expect((await request(t.app).get('/fhir/Patient?family=Deleteme')).body.total).toBe(0);
    // The delete is version 2; the revival version 3 (R4 http.html#delete: PUT brings it back).
    const revived = await put(`/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Revived' }] });
    expect(revived.status).toBe(201);
    expect(revived.headers['etag']).toBe('W/"3"');
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).status).toBe(200);
    expect((await request(t.app).get('/fhir/Patient?family=Revived')).body.total).toBe(1);
  });

  it('is idempotent: deleting again, or deleting what never existed, is 200', async () => {
    const { id } = await createPatient('Twice');
    expect((await request(t.app).delete(`/fhir/Patient/${id}`)).status).toBe(200);
    const again = await request(t.app).delete(`/fhir/Patient/${id}`);
    expect(again.status).toBe(200);
    expect(again.body.issue[0].code).toBe('informational');
    expect((await request(t.app).delete('/fhir/Patient/never-existed')).status).toBe(200);
    expect((await request(t.app).get('/fhir/Patient/never-existed')).status).toBe(404);
    // The second delete wrote no version.
    const history = await request(t.app).get(`/fhir/Patient/${id}/_history`);
    expect(history.body.total).toBe(2);
  });

  it('vread of the deleted version is 410', async () => {
    const { id } = await createPatient('Vreadgone');
    await request(t.app).delete(`/fhir/Patient/${id}`);
    const res = await request(t.app).get(`/fhir/Patient/${id}/_history/2`);
    expect(res.status).toBe(410);
    expect(res.body).toEqual(outcome('deleted', 'is a delete'));
    expect((await request(t.app).get(`/fhir/Patient/${id}/_history/1`)).status).toBe(200);
  });
});

describe('Prefer: return', () => {
  it('return=minimal answers with headers only', async () => {
    const res = await request(t.app)
      .post('/fhir/Practitioner')
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=minimal')
      .send(JSON.stringify({ resourceType: 'Practitioner', name: [{ family: 'Minimal' }] }));
    expect(res.status).toBe(201);
    expect(res.text ?? '').toBe('');
    expect(res.headers['location']).toMatch(new RegExp(`^${BASE_URL}/Practitioner/[^/]+/_history/1$`));
    expect(res.headers['etag']).toBe('W/"1"');
  });

  it('return=OperationOutcome answers with an informational outcome', async () => {
    const { id } = await createPatient('Outcome');
    const res = await request(t.app)
      .put(`/fhir/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=OperationOutcome')
      .send(JSON.stringify({ resourceType: 'Patient', id, name: [{ family: 'Outcome2' }] }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', diagnostics: `Updated Patient/${id}` }],
    });
    expect(res.headers['etag']).toBe('W/"2"');
  });

  it('return=representation (and an unknown return value) answers with the resource', async () => {
    const { id } = await createPatient('Repr');
    for (const prefer of ['return=representation', 'return=presentation']) {
      const res = await request(t.app)
        .patch(`/fhir/Patient/${id}`)
        .set('Content-Type', 'application/json-patch+json')
        .set('Prefer', prefer)
        .send(JSON.stringify([{ op: 'add', path: '/gender', value: 'other' }]));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ resourceType: 'Patient', id, gender: 'other' });
    }
  });
});

describe('AuditEvent is append-only', () => {
  const auditEvent = {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100' },
    recorded: '2026-01-01T10:00:00Z',
    agent: [{ who: { reference: 'Practitioner/audit-1' }, requestor: true }],
    source: { observer: { reference: 'Practitioner/audit-1' } },
  };

  it('can be created and read but not updated, patched or deleted (405 with Allow)', async () => {
    const created = await post('/fhir/AuditEvent', auditEvent);
    expect(created.status).toBe(201);
    const id = String(created.body.id);
    expect((await request(t.app).get(`/fhir/AuditEvent/${id}`)).status).toBe(200);

    const update = await put(`/fhir/AuditEvent/${id}`, { ...auditEvent, id, outcome: '4' });
    const patched = await patch(`/fhir/AuditEvent/${id}`, [{ op: 'add', path: '/outcome', value: '4' }]);
    const deleted = await request(t.app).delete(`/fhir/AuditEvent/${id}`);
    for (const res of [update, patched, deleted]) {
      expect(res.status).toBe(405);
      expect(res.headers['allow']).toBe('GET, POST');
      expect(res.body).toEqual(outcome('not-supported', 'AuditEvent is append-only'));
    }
    const read = await request(t.app).get(`/fhir/AuditEvent/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.outcome).toBeUndefined();
  });
});
