import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, BundleEntry, OperationOutcome } from 'fhir/r4';
import request from 'supertest';
import type { Response } from 'supertest';
import { FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t.close();
});

function batch(entry: unknown[], prefer?: string): Promise<Response> {
  let req = request(t.app).post('/fhir').set('Content-Type', FHIR_JSON);
  if (prefer !== undefined) req = req.set('Prefer', prefer);
  return req.send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }));
}

function statuses(res: Response): string[] {
  return (res.body.entry as BundleEntry[]).map((e) => String(e.response?.status));
}

describe('batch', () => {
  it('answers each entry on its own: failures do not undo the others', async () => {
    const res = await batch([
      { resource: { resourceType: 'Organization', name: 'Batch A' }, request: { method: 'POST', url: 'Organization' } },
      { resource: { resourceType: 'Organization', name: 'Wrong' }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: 'Organization/missing' } },
      { resource: { resourceType: 'Organization', id: 'b-put', name: 'Batch B' }, request: { method: 'PUT', url: 'Organization/b-put' } },
      { request: { method: 'GET', url: 'Observation/1' } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(statuses(res)).toEqual(['201 Created', '400 Bad Request', '404 Not Found', '201 Created', '404 Not Found']);
    const entries = res.body.entry as BundleEntry[];
    expect(entries[0]?.response?.location).toMatch(/^Organization\/[^/]+\/_history\/1$/);
    expect(entries[0]?.resource?.resourceType).toBe('Organization');
    expect(entries[1]?.response?.outcome).toEqual({
      resourceType: 'OperationOutcome',
      issue: [expect.objectContaining({ severity: 'error', code: 'invalid', expression: ['Patient.resourceType'] })],
    });
    expect((entries[2]?.response?.outcome as OperationOutcome | undefined)?.issue).toEqual([expect.objectContaining({ code: 'not-found' })]);
    expect((await request(t.app).get('/fhir/Organization?name=Batch')).body.total).toBe(2);
    expect((await request(t.app).get('/fhir/Patient?name=Wrong')).body.total).toBe(0);
  });

  it('runs entries in order, so a later read sees an earlier write', async () => {
    const res = await batch([
      { resource: { resourceType: 'Location', id: 'b-loc', name: 'Room' }, request: { method: 'PUT', url: 'Location/b-loc' } },
      { request: { method: 'GET', url: 'Location/b-loc' } },
      { request: { method: 'DELETE', url: 'Location/b-loc' } },
      { request: { method: 'GET', url: 'Location/b-loc' } },
      { request: { method: 'GET', url: 'Location/b-loc/_history' } },
    ]);
    expect(statuses(res)).toEqual(['201 Created', '200 OK', '200 OK', '410 Gone', '200 OK']);
    const entries = res.body.entry as BundleEntry[];
    expect(entries[1]?.response?.etag).toBe('W/"1"');
    expect((entries[4]?.resource as Bundle).total).toBe(2);
  });

  it('supports searches, If-Match, If-None-Exist and PATCH (Binary) per entry', async () => {
    const data = Buffer.from(JSON.stringify([{ op: 'add', path: '/active', value: true }])).toString('base64');
    const res = await batch([
      { resource: { resourceType: 'Organization', id: 'b-org', name: 'Cond' }, request: { method: 'PUT', url: 'Organization/b-org' } },
      { resource: { resourceType: 'Organization', id: 'b-org', name: 'Stale' }, request: { method: 'PUT', url: 'Organization/b-org', ifMatch: 'W/"9"' } },
      { resource: { resourceType: 'Organization', name: 'Cond' }, request: { method: 'POST', url: 'Organization', ifNoneExist: 'name:exact=Cond' } },
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: 'Organization/b-org' } },
      { request: { method: 'GET', url: 'Organization?name:exact=Cond&_summary=count' } },
    ]);
    expect(statuses(res)).toEqual(['201 Created', '412 Precondition Failed', '200 OK', '200 OK', '200 OK']);
    const entries = res.body.entry as BundleEntry[];
    expect((entries[4]?.resource as Bundle).total).toBe(1);
    const read = await request(t.app).get('/fhir/Organization/b-org');
    expect(read.body).toMatchObject({ name: 'Cond', active: true, meta: { versionId: '2' } });
  });

  it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
    const minimal = await batch([{ resource: { resourceType: 'Organization', name: 'Min' }, request: { method: 'POST', url: 'Organization' } }], 'return=minimal');
    expect(minimal.body.entry[0].resource).toBeUndefined();
    expect(minimal.body.entry[0].response.status).toBe('201 Created');
    const outcome = await batch(
      [{ resource: { resourceType: 'Organization', name: 'Oo' }, request: { method: 'POST', url: 'Organization' } }],
      'return=OperationOutcome',
    );
    expect(outcome.body.entry[0].resource).toBeUndefined();
    expect(outcome.body.entry[0].response.outcome.issue[0].code).toBe('informational');
  });

  it('answers every entry of the official R4 example transaction on its own when sent as a batch', async () => {
    const fixture = JSON.parse(readFileSync(path.join(__dirname, '../fixtures/Bundle-bundle-transaction.json'), 'utf8')) as Bundle;
    const res = await request(t.app)
      .post('/fhir')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ ...fixture, type: 'batch' }));
    expect(res.status).toBe(200);
    expect(res.body.entry).toHaveLength(fixture.entry?.length ?? 0);
    expect(statuses(res)).toEqual([
      '201 Created', // POST Patient
      '201 Created', // POST Patient, If-None-Exist with no match
      '201 Created', // PUT Patient/123 (update-as-create)
      '405 Method Not Allowed', // PUT Patient?identifier=… (conditional update is not offered)
      '412 Precondition Failed', // PUT Patient/123a with If-Match on a resource that does not exist
      '200 OK', // DELETE Patient/234 (idempotent)
      '405 Method Not Allowed', // DELETE Patient?identifier=… (conditional delete is not offered)
      '404 Not Found', // ValueSet/$lookup: not a type Kairos stores
      '200 OK', // GET Patient?name=peter
      '404 Not Found', // GET Patient/12334
    ]);
    expect((await request(t.app).get('/fhir/Patient/123')).status).toBe(200);
  });

  it('returns 400 for a Bundle that is not a batch or transaction, and for non-object entries', async () => {
    const collection = await request(t.app).post('/fhir').set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Bundle', type: 'collection' }));
    expect(collection.status).toBe(400);
    expect(collection.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', diagnostics: 'Bundle.type must be batch or transaction, got "collection"', expression: ['Bundle.type'] }],
    });
    const notBundle = await request(t.app).post('/fhir').set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Patient' }));
    expect(notBundle.status).toBe(400);
    const badEntries = await request(t.app).post('/fhir').set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [1] }));
    expect(badEntries.status).toBe(400);
    expect(badEntries.body.issue[0].code).toBe('structure');
  });

  it('refuses a nested batch in an entry', async () => {
    const res = await batch([{ resource: { resourceType: 'Bundle', type: 'batch' }, request: { method: 'POST', url: '/' } }]);
    expect(res.status).toBe(200);
    expect(statuses(res)).toEqual(['400 Bad Request']);
  });
});
