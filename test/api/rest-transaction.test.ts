import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, BundleEntry, OperationOutcome } from 'fhir/r4';
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

const MRN = 'https://hospital.example/mrn';

/** A request entry as a client writes it (resources as plain JSON). */
interface EntryInput {
  fullUrl?: string;
  resource?: Record<string, unknown>;
  request?: { method: string; url: string; ifMatch?: string; ifNoneExist?: string };
}

function transaction(entry: EntryInput[], prefer?: string): Promise<Response> {
  let req = request(t.app).post('/fhir').set('Content-Type', FHIR_JSON);
  if (prefer !== undefined) req = req.set('Prefer', prefer);
  return req.send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }));
}

async function total(query: string): Promise<number> {
  const res = await request(t.app).get(`/fhir/${query}`);
  expect(res.status).toBe(200);
  return Number(res.body.total);
}

function patient(value: string, family = 'Tx'): Record<string, unknown> {
  return { resourceType: 'Patient', identifier: [{ system: MRN, value }], name: [{ family }] };
}

/** `Type/id` from a response location `Type/id/_history/n`. */
function idFromLocation(location: string | undefined): string {
  const match = /^([A-Za-z]+)\/([^/]+)\/_history\/\d+$/.exec(location ?? '');
  if (match === null) throw new Error(`not a location: ${String(location)}`);
  return `${match[1] ?? ''}/${match[2] ?? ''}`;
}

describe('transaction', () => {
  it('creates everything, rewrites urn:uuid references and answers each entry in order', async () => {
    const res = await transaction([
      {
        fullUrl: 'urn:uuid:0c3a4d3e-4f62-4a1c-9d7e-000000000001',
        resource: {
          resourceType: 'Appointment',
          status: 'proposed',
          participant: [
            { actor: { reference: 'urn:uuid:0c3a4d3e-4f62-4a1c-9d7e-000000000002' }, status: 'accepted' },
            // The PUT entry's absolute fullUrl: rewritten to the local reference too.
            { actor: { reference: `${BASE_URL}/Practitioner/tx-doc` }, status: 'needs-action' },
          ],
        },
        request: { method: 'POST', url: 'Appointment' },
      },
      { fullUrl: 'urn:uuid:0c3a4d3e-4f62-4a1c-9d7e-000000000002', resource: patient('t-1'), request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: `${BASE_URL}/Practitioner/tx-doc`,
        resource: { resourceType: 'Practitioner', id: 'tx-doc', name: [{ family: 'Doc' }] },
        request: { method: 'PUT', url: 'Practitioner/tx-doc' },
      },
    ]);
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.type).toBe('transaction-response');
    expect(bundle.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const appointmentKey = idFromLocation(bundle.entry?.[0]?.response?.location);
    const patientKey = idFromLocation(bundle.entry?.[1]?.response?.location);
    expect(appointmentKey).toMatch(/^Appointment\//);
    expect(patientKey).toMatch(/^Patient\//);
    expect(bundle.entry?.[2]?.response?.location).toBe('Practitioner/tx-doc/_history/1');
    expect(bundle.entry?.[0]?.response?.etag).toBe('W/"1"');
    expect(bundle.entry?.[0]?.fullUrl).toBe(`${BASE_URL}/${appointmentKey}`);

    const appointment = await request(t.app).get(`/fhir/${appointmentKey}`);
    expect(appointment.body.participant.map((p: { actor: { reference: string } }) => p.actor.reference)).toEqual([
      patientKey,
      'Practitioner/tx-doc',
    ]);
    expect(await total(`Appointment?patient=${patientKey}`)).toBe(1);
    expect(await total('Practitioner?_id=tx-doc')).toBe(1);
    expect(await total('Appointment?practitioner=tx-doc')).toBe(1);
  });

  it('resolves conditional references against the state before the transaction', async () => {
    const existing = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(JSON.stringify(patient('t-2')));
    const res = await transaction([
      {
        resource: {
          resourceType: 'Appointment',
          status: 'proposed',
          participant: [{ actor: { reference: `Patient?identifier=${MRN}|t-2` }, status: 'accepted' }],
        },
        request: { method: 'POST', url: 'Appointment' },
      },
    ]);
    expect(res.status).toBe(200);
    const key = idFromLocation(res.body.entry[0].response.location);
    const stored = await request(t.app).get(`/fhir/${key}`);
    expect(stored.body.participant[0].actor.reference).toBe(`Patient/${String(existing.body.id)}`);
  });

  it('fails as a whole (404) when a conditional reference matches nothing, writing nothing', async () => {
    const res = await transaction([
      { fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001', resource: patient('t-3'), request: { method: 'POST', url: 'Patient' } },
      {
        resource: {
          resourceType: 'Appointment',
          status: 'proposed',
          participant: [{ actor: { reference: `Patient?identifier=${MRN}|nobody` }, status: 'accepted' }],
        },
        request: { method: 'POST', url: 'Appointment' },
      },
    ]);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', diagnostics: `Conditional reference Patient?identifier=${MRN}|nobody matches no Patient` }],
    });
    expect(await total(`Patient?identifier=${MRN}|t-3`)).toBe(0);
  });

  it('fails as a whole (412) when a conditional reference matches several', async () => {
    for (let i = 0; i < 2; i++) {
      await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(JSON.stringify(patient('t-4')));
    }
    const res = await transaction([
      { resource: patient('t-4b'), request: { method: 'POST', url: 'Patient' } },
      {
        resource: { resourceType: 'Patient', link: [{ other: { reference: `Patient?identifier=${MRN}|t-4` }, type: 'seealso' }] },
        request: { method: 'POST', url: 'Patient' },
      },
    ]);
    expect(res.status).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'multiple-matches' })]);
    expect(await total(`Patient?identifier=${MRN}|t-4b`)).toBe(0);
  });

  it('is all-or-nothing: one invalid entry fails the Bundle with one OperationOutcome naming it', async () => {
    const res = await transaction([
      { resource: patient('t-5'), request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Practitioner', id: 'tx-keep', name: [{ family: 'Keep' }] }, request: { method: 'PUT', url: 'Practitioner/tx-keep' } },
      { resource: { resourceType: 'Slot', status: 'free' }, request: { method: 'POST', url: 'Slot' } },
    ]);
    expect(res.status).toBe(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    for (const issue of res.body.issue as Array<{ diagnostics: string; severity: string }>) {
      expect(issue.severity).toBe('error');
      expect(issue.diagnostics).toMatch(/^Bundle\.entry\[2\]: /);
    }
    expect(await total(`Patient?identifier=${MRN}|t-5`)).toBe(0);
    expect((await request(t.app).get('/fhir/Practitioner/tx-keep')).status).toBe(404);
    expect(await total('Slot')).toBe(0);
  });

  it('fails with 412 and changes nothing when an entry If-Match is stale', async () => {
    const created = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(JSON.stringify(patient('t-6')));
    const id = String(created.body.id);
    const res = await transaction([
      { resource: patient('t-6b'), request: { method: 'POST', url: 'Patient' } },
      { resource: { ...patient('t-6', 'Changed'), id }, request: { method: 'PUT', url: `Patient/${id}`, ifMatch: 'W/"3"' } },
    ]);
    expect(res.status).toBe(412);
    expect(res.body.issue).toEqual([expect.objectContaining({ code: 'conflict', expression: ['Bundle.entry[1]'] })]);
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.name).toEqual([{ family: 'Tx' }]);
    expect(await total(`Patient?identifier=${MRN}|t-6b`)).toBe(0);
  });

  it('processes DELETE, POST, PUT/PATCH, then GET, whatever the entry order, answering in entry order', async () => {
    const old = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(JSON.stringify(patient('t-7-old')));
    const oldId = String(old.body.id);
    const patchBody = Buffer.from(JSON.stringify([{ op: 'replace', path: '/name/0/family', value: 'Patched' }])).toString('base64');
    const res = await transaction([
      { request: { method: 'GET', url: `Patient?identifier=${MRN}|t-7-new` } },
      { request: { method: 'GET', url: `Patient/${oldId}` } },
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patchBody }, request: { method: 'PATCH', url: 'Organization/tx-org' } },
      { resource: { resourceType: 'Organization', id: 'tx-org', name: 'Org' }, request: { method: 'PUT', url: 'Organization/tx-org' } },
      { resource: patient('t-7-new'), request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: `Patient/${oldId}` } },
    ]);
    // PUT and PATCH of the same resource are two changes of one identity: R4 says the transaction fails.
    expect(res.status).toBe(400);
    expect(res.body.issue).toEqual([expect.objectContaining({ code: 'duplicate' })]);
    expect((await request(t.app).get(`/fhir/Patient/${oldId}`)).status).toBe(200);

    const ok = await transaction([
      { request: { method: 'GET', url: `Patient?identifier=${MRN}|t-7-new` } },
      { request: { method: 'GET', url: `Patient/${oldId}` } },
      { resource: { resourceType: 'Organization', id: 'tx-org', name: 'Org' }, request: { method: 'PUT', url: 'Organization/tx-org' } },
      { resource: patient('t-7-new'), request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: `Patient/${oldId}` } },
    ]);
    expect(ok.status).toBe(200);
    const entries = ok.body.entry as BundleEntry[];
    expect(entries.map((e) => e.response?.status.slice(0, 3))).toEqual(['200', '410', '201', '201', '200']);
    // The search ran after the POST: it finds the new patient.
    const searchset = entries[0]?.resource as Bundle;
    expect(searchset.type).toBe('searchset');
    expect(searchset.total).toBe(1);
    // The read ran after the DELETE; the writes are committed, so its 410 is answered in its entry.
    expect((entries[1]?.response?.outcome as OperationOutcome | undefined)?.issue).toEqual([expect.objectContaining({ code: 'deleted' })]);
    expect((await request(t.app).get(`/fhir/Patient/${oldId}`)).status).toBe(410);
    expect((await request(t.app).get('/fhir/Organization/tx-org')).status).toBe(200);
  });

  it('fails with 400 duplicate whichever order two changes of one resource come in', async () => {
    const put: EntryInput = { resource: { resourceType: 'Organization', id: 'tx-dup', name: 'Dup' }, request: { method: 'PUT', url: 'Organization/tx-dup' } };
    const del: EntryInput = { request: { method: 'DELETE', url: 'Organization/tx-dup' } };
    for (const entries of [[put, del], [del, put]]) {
      const res = await transaction(entries);
      expect(res.status).toBe(400);
      expect(res.body.issue).toEqual([
        { severity: 'error', code: 'duplicate', diagnostics: 'Organization/tx-dup is changed by entries 0 and 1 of the transaction', expression: ['Bundle.entry[1].request.url'] },
      ]);
    }
    expect((await request(t.app).get('/fhir/Organization/tx-dup')).status).toBe(404);
  });

  it('applies a JSON Patch carried in a Binary', async () => {
    const created = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(JSON.stringify(patient('t-8')));
    const id = String(created.body.id);
    const data = Buffer.from(JSON.stringify([{ op: 'replace', path: '/name/0/family', value: 'Patched' }])).toString('base64');
    const res = await transaction([
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: `Patient/${id}` } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).body.name).toEqual([{ family: 'Patched' }]);
  });

  it('a conditional create that matches answers 200 and references to its fullUrl point at the match', async () => {
    const existing = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(JSON.stringify(patient('t-9')));
    const res = await transaction([
      {
        fullUrl: 'urn:uuid:bbbbbbbb-0000-4000-8000-000000000001',
        resource: patient('t-9'),
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|t-9` },
      },
      {
        resource: {
          resourceType: 'Appointment',
          status: 'proposed',
          participant: [{ actor: { reference: 'urn:uuid:bbbbbbbb-0000-4000-8000-000000000001' }, status: 'accepted' }],
        },
        request: { method: 'POST', url: 'Appointment' },
      },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect(await total(`Patient?identifier=${MRN}|t-9`)).toBe(1);
    const appointment = await request(t.app).get(`/fhir/${idFromLocation(res.body.entry[1].response.location)}`);
    expect(appointment.body.participant[0].actor.reference).toBe(`Patient/${String(existing.body.id)}`);
  });

  it('honours Prefer: return=minimal per entry', async () => {
    const res = await transaction([{ resource: patient('t-10'), request: { method: 'POST', url: 'Patient' } }], 'return=minimal');
    expect(res.status).toBe(200);
    expect(res.body.entry[0].resource).toBeUndefined();
    expect(res.body.entry[0].response.location).toMatch(/^Patient\/[^/]+\/_history\/1$/);
  });

  it('returns 400 and writes nothing for a duplicate fullUrl or an entry without request', async () => {
    const dup = await transaction([
      { fullUrl: 'urn:uuid:cccccccc-0000-4000-8000-000000000001', resource: patient('t-11'), request: { method: 'POST', url: 'Patient' } },
      { fullUrl: 'urn:uuid:cccccccc-0000-4000-8000-000000000001', resource: patient('t-11'), request: { method: 'POST', url: 'Patient' } },
    ]);
    expect(dup.status).toBe(400);
    expect(dup.body.issue).toEqual([expect.objectContaining({ code: 'invalid', diagnostics: expect.stringContaining('appears twice') })]);
    const noRequest = await transaction([{ resource: patient('t-11') }, { resource: patient('t-11'), request: { method: 'POST', url: 'Patient' } }]);
    expect(noRequest.status).toBe(400);
    expect(noRequest.body.issue[0].expression).toEqual(['Bundle.entry[0].request']);
    expect(await total(`Patient?identifier=${MRN}|t-11`)).toBe(0);
  });

  it('rejects the official R4 example transaction as a whole (it uses interactions Kairos does not offer)', async () => {
    const fixture = JSON.parse(readFileSync(path.join(__dirname, '../fixtures/Bundle-bundle-transaction.json'), 'utf8')) as Bundle;
    const before = await total('Patient');
    const res = await request(t.app).post('/fhir').set('Content-Type', FHIR_JSON).send(JSON.stringify(fixture));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await total('Patient')).toBe(before);
    expect((await request(t.app).get('/fhir/Patient/123')).status).toBe(404);
  });

  it('an empty transaction answers an empty transaction-response', async () => {
    const res = await transaction([]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ resourceType: 'Bundle', type: 'transaction-response' });
  });
});
