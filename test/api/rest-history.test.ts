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

function send(method: 'post' | 'put', path: string, body: unknown): Promise<Response> {
  return request(t.app)[method](path).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
}

interface HistoryEntryJson {
  fullUrl?: string;
  resource?: { meta?: { versionId?: string }; name?: string };
  request: { method: string; url: string };
  response: { status: string; etag: string; lastModified: string };
}

describe('instance history', () => {
  it('lists every version newest first, the delete as an entry without a resource', async () => {
    const created = await send('post', '/fhir/Organization', { resourceType: 'Organization', name: 'V1' });
    const id = String(created.body.id);
    await send('put', `/fhir/Organization/${id}`, { resourceType: 'Organization', id, name: 'V2' });
    await request(t.app).delete(`/fhir/Organization/${id}`);
    await send('put', `/fhir/Organization/${id}`, { resourceType: 'Organization', id, name: 'V4' });

    const res = await request(t.app).get(`/fhir/Organization/${id}/_history`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'history', total: 4 });
    const entries = res.body.entry as HistoryEntryJson[];
    expect(entries.map((e) => e.response.etag)).toEqual(['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']);
    expect(entries.map((e) => e.request.method)).toEqual(['PUT', 'DELETE', 'PUT', 'POST']);
    expect(entries.map((e) => e.resource?.name)).toEqual(['V4', undefined, 'V2', 'V1']);
    expect(entries[1]).toEqual({
      fullUrl: `${BASE_URL}/Organization/${id}`,
      request: { method: 'DELETE', url: `Organization/${id}` },
      response: { status: '204 No Content', etag: 'W/"3"', lastModified: expect.any(String) },
    });
    expect(entries[3]?.request).toEqual({ method: 'POST', url: 'Organization' });
    expect(entries[3]?.response.status).toBe('201 Created');
  });

  it('returns 404 for the history of an id that never existed', async () => {
    const res = await request(t.app).get('/fhir/Organization/nobody/_history');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', diagnostics: 'Organization/nobody is not known' }],
    });
  });

  it('pages with _count and next links that work', async () => {
    const created = await send('post', '/fhir/Organization', { resourceType: 'Organization', name: 'P1' });
    const id = String(created.body.id);
    for (let v = 2; v <= 5; v++) await send('put', `/fhir/Organization/${id}`, { resourceType: 'Organization', id, name: `P${v}` });
    const page1 = await request(t.app).get(`/fhir/Organization/${id}/_history?_count=2`);
    expect(page1.body.total).toBe(5);
    expect((page1.body.entry as HistoryEntryJson[]).map((e) => e.resource?.name)).toEqual(['P5', 'P4']);
    const next = (page1.body.link as Array<{ relation: string; url: string }>).find((l) => l.relation === 'next');
    expect(next).toBeDefined();
    const page2 = await request(t.app).get(String(next?.url).slice(BASE_URL.length - '/fhir'.length));
    expect((page2.body.entry as HistoryEntryJson[]).map((e) => e.resource?.name)).toEqual(['P3', 'P2']);
  });

  it('filters by _since', async () => {
    const created = await send('post', '/fhir/Organization', { resourceType: 'Organization', name: 'S1' });
    const id = String(created.body.id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const since = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await send('put', `/fhir/Organization/${id}`, { resourceType: 'Organization', id, name: 'S2' });
    const res = await request(t.app).get(`/fhir/Organization/${id}/_history?_since=${encodeURIComponent(since)}`);
    expect(res.body.total).toBe(1);
    expect(res.body.entry[0].resource.name).toBe('S2');
  });

  it('returns 400 for a _since that is not an instant', async () => {
    const res = await request(t.app).get('/fhir/Organization/_history?_since=yesterday');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', diagnostics: '_since must be a FHIR date or instant, got "yesterday"' }],
    });
  });
});

describe('type history', () => {
  it('lists the changes of every resource of the type, newest first, deletes included', async () => {
    const a = await send('post', '/fhir/HealthcareService', { resourceType: 'HealthcareService', name: 'A' });
    const b = await send('post', '/fhir/HealthcareService', { resourceType: 'HealthcareService', name: 'B' });
    await request(t.app).delete(`/fhir/HealthcareService/${String(a.body.id)}`);
    const res = await request(t.app).get('/fhir/HealthcareService/_history');
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('history');
    expect(res.body.total).toBe(3);
    const entries = res.body.entry as HistoryEntryJson[];
    expect(entries.map((e) => `${e.request.method} ${e.resource?.name ?? '-'}`)).toEqual(['DELETE -', 'POST B', 'POST A']);
    expect(entries[0]?.request.url).toBe(`HealthcareService/${String(a.body.id)}`);
    expect(entries[1]?.fullUrl).toBe(`${BASE_URL}/HealthcareService/${String(b.body.id)}`);
  });

  it('rejects unknown parameters under Prefer: handling=strict and ignores them otherwise', async () => {
    expect((await request(t.app).get('/fhir/HealthcareService/_history?bogus=1')).status).toBe(200);
    const strict = await request(t.app).get('/fhir/HealthcareService/_history?bogus=1').set('Prefer', 'handling=strict');
    expect(strict.status).toBe(400);
    expect(strict.body.issue).toEqual([expect.objectContaining({ code: 'not-supported', diagnostics: expect.stringContaining('bogus') })]);
  });
});
