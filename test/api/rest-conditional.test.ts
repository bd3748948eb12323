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

const SYSTEM = 'https://hospital.example/mrn';

function patient(value: string, family = 'Cond'): Record<string, unknown> {
  return { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }], name: [{ family }] };
}

function send(method: 'post' | 'put' | 'patch' | 'delete', path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  let req = request(t.app)[method](path);
  for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
  if (body === undefined) return req;
  const type = method === 'patch' ? 'application/json-patch+json' : FHIR_JSON;
  return req.set('Content-Type', type).send(JSON.stringify(body));
}

async function countWith(value: string): Promise<number> {
  const res = await request(t.app).get(`/fhir/Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}`);
  return Number(res.body.total);
}

describe('conditional create (If-None-Exist)', () => {
  it('creates (201) when nothing matches, then answers 200 with the match and creates nothing', async () => {
    const first = await send('post', '/fhir/Patient', patient('c-1'), { 'If-None-Exist': `identifier=${SYSTEM}|c-1` });
    expect(first.status).toBe(201);
    expect(first.headers['location']).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
    const second = await send('post', '/fhir/Patient', patient('c-1', 'Other'), { 'If-None-Exist': `identifier=${SYSTEM}|c-1` });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.name).toEqual([{ family: 'Cond' }]);
    expect(second.headers['etag']).toBe('W/"1"');
    expect(await countWith('c-1')).toBe(1);
  });

  it('accepts the criteria with a leading Type? as some clients send it', async () => {
    const first = await send('post', '/fhir/Patient', patient('c-2'), { 'If-None-Exist': `Patient?identifier=${SYSTEM}|c-2` });
    expect(first.status).toBe(201);
    const second = await send('post', '/fhir/Patient', patient('c-2'), { 'If-None-Exist': `Patient?identifier=${SYSTEM}|c-2` });
    expect(second.status).toBe(200);
    expect(await countWith('c-2')).toBe(1);
  });

  it('returns 412 multiple-matches and creates nothing when the criteria match more than one', async () => {
    await send('post', '/fhir/Patient', patient('c-3'), {});
    await send('post', '/fhir/Patient', patient('c-3'), {});
    const res = await send('post', '/fhir/Patient', patient('c-3'), { 'If-None-Exist': `identifier=${SYSTEM}|c-3` });
    expect(res.status).toBe(412);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'multiple-matches', diagnostics: 'If-None-Exist matched more than one Patient' }],
    });
    expect(await countWith('c-3')).toBe(2);
  });

  it('returns 400 and creates nothing when the criteria name an unknown parameter (it would widen the match)', async () => {
    const res = await send('post', '/fhir/Patient', patient('c-4'), { 'If-None-Exist': 'bogus=1' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [expect.objectContaining({ severity: 'error', code: 'invalid', diagnostics: expect.stringContaining('"bogus"') })],
    });
    expect(await countWith('c-4')).toBe(0);
  });

  it('serialises two identical conditional creates sent at once: one creates, the other finds it', async () => {
    const headers = { 'If-None-Exist': `identifier=${SYSTEM}|c-5` };
    const [a, b] = await Promise.all([send('post', '/fhir/Patient', patient('c-5'), headers), send('post', '/fhir/Patient', patient('c-5'), headers)]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.id).toBe(b.body.id);
    expect(await countWith('c-5')).toBe(1);
  });
});

describe('If-Match (version-aware updates)', () => {
  async function created(): Promise<string> {
    const res = await send('post', '/fhir/Patient', patient('m-1'), {});
    return String(res.body.id);
  }

  it('updates when If-Match names the current version', async () => {
    const id = await created();
    const res = await send('put', `/fhir/Patient/${id}`, { ...patient('m-1', 'Matched'), id }, { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('W/"2"');
  });

  it('returns 412 conflict and leaves the version unchanged on PUT with a stale version', async () => {
    const id = await created();
    const res = await send('put', `/fhir/Patient/${id}`, { ...patient('m-1', 'Stale'), id }, { 'If-Match': 'W/"7"' });
    expect(res.status).toBe(412);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'conflict',
          diagnostics: `If-Match W/"7" does not match the current version of Patient/${id} (W/"1")`,
        },
      ],
    });
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(read.headers['etag']).toBe('W/"1"');
    expect(read.body.name).toEqual([{ family: 'Cond' }]);
  });

  it('returns 412 on PATCH and DELETE with a stale version, changing nothing', async () => {
    const id = await created();
    const patched = await send('patch', `/fhir/Patient/${id}`, [{ op: 'add', path: '/active', value: true }], { 'If-Match': 'W/"2"' });
    expect(patched.status).toBe(412);
    expect(patched.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'conflict' })]);
    const deleted = await send('delete', `/fhir/Patient/${id}`, undefined, { 'If-Match': 'W/"2"' });
    expect(deleted.status).toBe(412);
    expect(deleted.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'conflict' })]);
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.active).toBeUndefined();
  });

  it('accepts If-Match on PATCH and DELETE when it is current', async () => {
    const id = await created();
    const patched = await send('patch', `/fhir/Patient/${id}`, [{ op: 'add', path: '/active', value: true }], { 'If-Match': 'W/"1"' });
    expect(patched.status).toBe(200);
    const deleted = await send('delete', `/fhir/Patient/${id}`, undefined, { 'If-Match': 'W/"2"' });
    expect(deleted.status).toBe(200);
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).status).toBe(410);
  });

  it('returns 412 for an If-Match on a PUT to an id that does not exist (there is no version to match)', async () => {
    const res = await send('put', '/fhir/Patient/m-new', { ...patient('m-2'), id: 'm-new' }, { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(412);
    expect(res.body.issue[0].diagnostics).toContain('(none)');
    expect((await request(t.app).get('/fhir/Patient/m-new')).status).toBe(404);
  });

  it('returns 412 for an If-Match that is not a version at all', async () => {
    const id = await created();
    const res = await send('put', `/fhir/Patient/${id}`, { ...patient('m-1'), id }, { 'If-Match': '*' });
    expect(res.status).toBe(412);
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('1');
  });

  it('lets exactly one of two concurrent PUTs with the same If-Match win', async () => {
    const id = await created();
    const put = (family: string): Promise<Response> =>
      send('put', `/fhir/Patient/${id}`, { ...patient('m-1', family), id }, { 'If-Match': 'W/"1"' });
    const [a, b] = await Promise.all([put('Racer1'), put('Racer2')]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
    expect((await request(t.app).get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('2');
  });
});

describe('conditional read (If-None-Match, If-Modified-Since; R4 http.html#cread)', () => {
  let id = '';
  let lastModified = '';
  beforeAll(async () => {
    const created = await send('post', '/fhir/Patient', patient('cread-1'), {});
    id = String(created.body.id);
    const read = await request(t.app).get(`/fhir/Patient/${id}`);
    lastModified = String(read.headers['last-modified']);
  });

  it('answers 304 with the ETag and no body when If-None-Match names the current version', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}`).set('If-None-Match', 'W/"1"');
    expect(res.status).toBe(304);
    expect(res.headers['etag']).toBe('W/"1"');
    expect(res.text).toBe('');
  });

  it('compares entity tags weakly, in a list, and with *', async () => {
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('If-None-Match', '"7", "1"')).status).toBe(304);
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('If-None-Match', '*')).status).toBe(304);
    expect((await request(t.app).get(`/fhir/Patient/${id}/_history/1`).set('If-None-Match', 'W/"1"')).status).toBe(304);
  });

  it('answers 200 with the resource when If-None-Match names another version', async () => {
    const res = await request(t.app).get(`/fhir/Patient/${id}`).set('If-None-Match', 'W/"2"');
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(id);
  });

  it('answers 304 for If-Modified-Since at or after the last update, 200 before it', async () => {
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('If-Modified-Since', lastModified)).status).toBe(304);
    const before = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const res = await request(t.app).get(`/fhir/Patient/${id}`).set('If-Modified-Since', before);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(id);
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
    expect((await request(t.app).get(`/fhir/Patient/${id}`).set('If-None-Match', 'W/"2"').set('If-Modified-Since', lastModified)).status).toBe(200);
  });

  it('is declared in the CapabilityStatement (conditionalRead full-support on every readable type)', async () => {
    const res = await request(t.app).get('/fhir/metadata');
    const resources = res.body.rest[0].resource as Array<{ type: string; conditionalRead: string; interaction: Array<{ code: string }> }>;
    const readable = resources.filter((r) => r.interaction.some((i) => i.code === 'read'));
    expect(readable.length).toBeGreaterThan(5);
    for (const r of readable) expect([r.type, r.conditionalRead]).toEqual([r.type, 'full-support']);
  });

  it('ignores the conditions on writes', async () => {
    const res = await send('put', `/fhir/Patient/${id}`, { ...patient('cread-1'), id }, { 'If-None-Match': 'W/"1"' });
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('W/"2"');
  });
});
