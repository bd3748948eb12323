import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import request from 'supertest';
import { OPERATIONS } from '../../src/app';
import type { FhirOperation } from '../../src/operations/operation';
import { FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

/** An operation that fails the way a bug would: a plain Error whose message must never reach the client. */
const explode: FhirOperation = {
  name: 'explode',
  resourceType: 'Organization',
  allowGet: true,
  definition: {
    resourceType: 'OperationDefinition',
    status: 'active',
    kind: 'operation',
    name: 'Explode',
    code: 'explode',
    system: false,
    type: true,
    instance: false,
  },
  handle: () => Promise.reject(new Error('secret internals: connection string mongodb://admin:pw@db')),
};

const logLines: string[] = [];
let t: TestApp;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(chunk.toString('utf8'));
      callback();
    },
  });
  t = await startTestApp({}, { operations: [...OPERATIONS, explode], logger: pino({ level: 'error' }, sink) });
});

afterAll(async () => {
  await t.close();
});

/**
 * Sends raw bytes over a real socket (superagent re-serialises Buffers sent as JSON, which would
 * spoil a gzip body).
 */
async function rawPost(path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: unknown }> {
  const server = t.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
      });
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

function outcome(code: string, diagnostics: unknown): unknown {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

async function organizationCount(): Promise<number> {
  return Number((await request(t.app).get('/fhir/Organization')).body.total);
}

describe('query strings are plain strings', () => {
  it.each(['status[$ne]=x', 'name[$regex]=.*', '_id[$gt]=', '$where=1', 'name[0]=x', 'a[b][c]=d'])(
    '%s is a 400, never an operator',
    async (query) => {
      const res = await request(t.app).get(`/fhir/Slot?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(outcome('value', expect.stringContaining('Invalid parameter name')));
    },
  );

  it('is also checked for the form body of POST _search', async () => {
    const res = await request(t.app)
      .post('/fhir/Slot/_search')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('status%5B%24ne%5D=x');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('value', 'Invalid parameter name "status[$ne]": names are plain FHIR search parameter names'));
  });

  it('is also checked in Bundle entry URLs', async () => {
    const res = await request(t.app)
      .post('/fhir')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Slot?status[$ne]=x' } }] }));
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('400 Bad Request');
  });
});

describe('broken and hostile bodies', () => {
  it('broken JSON is 400 structure and writes nothing', async () => {
    const before = await organizationCount();
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', FHIR_JSON).send('{"resourceType": "Organization", name: }');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('structure', expect.stringMatching(/^The body is not valid JSON/)));
    expect(await organizationCount()).toBe(before);
  });

  it('an empty body, null or a string is 400', async () => {
    for (const body of ['', 'null', '"Organization"', '42']) {
      const res = await request(t.app).put('/fhir/Organization/o1').set('Content-Type', FHIR_JSON).send(body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(outcome('structure', 'The request body must be a JSON object holding a FHIR resource'));
    }
    expect((await request(t.app).get('/fhir/Organization/o1')).status).toBe(404);
  });

  it('a body over 1 MB is 413 too-long and writes nothing', async () => {
    const before = await organizationCount();
    const big = JSON.stringify({ resourceType: 'Organization', name: 'x'.repeat(1024 * 1024 + 10) });
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', FHIR_JSON).send(big);
    expect(res.status).toBe(413);
    expect(res.body).toEqual(outcome('too-long', 'The request body is larger than the 1 MB limit'));
    expect(await organizationCount()).toBe(before);
  });

  it('a gzip body that inflates past 1 MB is 413; one that does not inflate is 400', async () => {
    const gzip = { 'Content-Type': FHIR_JSON, 'Content-Encoding': 'gzip' };
    const bomb = gzipSync(Buffer.from(JSON.stringify({ resourceType: 'Organization', name: ' '.repeat(4 * 1024 * 1024) })));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const big = await rawPost('/fhir/Organization', gzip, bomb);
    expect(big.status).toBe(413);
    expect(big.body).toEqual(outcome('too-long', 'The request body is larger than the 1 MB limit'));
    const garbage = await rawPost('/fhir/Organization', gzip, Buffer.from('not gzip'));
    expect(garbage.status).toBe(400);
    expect(garbage.body).toEqual(outcome('structure', 'The request body could not be read'));
  });

  it('a gzip body that is small enough is read', async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ resourceType: 'Organization', name: 'Zipped' })));
    const res = await rawPost('/fhir/Organization', { 'Content-Type': FHIR_JSON, 'Content-Encoding': 'gzip' }, body);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ resourceType: 'Organization', name: 'Zipped' });
  });

  it('an unsupported Content-Encoding is 415', async () => {
    const res = await rawPost('/fhir/Organization', { 'Content-Type': FHIR_JSON, 'Content-Encoding': 'compress' }, Buffer.from('{}'));
    expect(res.status).toBe(415);
    expect(res.body).toEqual(outcome('not-supported', 'The request body uses a Content-Encoding or charset Kairos does not support'));
  });

  it('a resource nested absurdly deep is 400, not a crash', async () => {
    const depth = 20000;
    const body = `{"resourceType":"Organization","extension":[${'{"url":"x","extension":['.repeat(depth)}{"url":"x","valueString":"y"}${']}'.repeat(depth)}]}`;
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', FHIR_JSON).send(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [expect.objectContaining({ severity: 'error', code: 'structure', diagnostics: expect.stringContaining('nested') })],
    });
  });

  it('__proto__ and constructor keys are refused as unknown elements and pollute nothing', async () => {
    for (const key of ['__proto__', 'constructor']) {
      const res = await request(t.app)
        .post('/fhir/Organization')
        .set('Content-Type', FHIR_JSON)
        .send(`{"resourceType":"Organization","${key}":{"polluted":true,"prototype":{"polluted":true}}}`);
      expect(res.status).toBe(400);
      expect(res.body.issue[0]).toMatchObject({ severity: 'error', code: 'structure', diagnostics: `Unknown element '${key}' in Organization` });
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('Mongo-operator-looking keys in a body are unknown elements', async () => {
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', FHIR_JSON).send('{"resourceType":"Organization","$where":"1"}');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].code).toBe('structure');
  });
});

describe('wrong type, id or media type', () => {
  it('a body resourceType that differs from the URL is 400', async () => {
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', FHIR_JSON).send('{"resourceType":"Patient"}');
    expect(res.status).toBe(400);
    expect(res.body.issue[0]).toMatchObject({ code: 'invalid', expression: ['Organization.resourceType'] });
  });

  it('an update whose body id differs from the URL id is 400', async () => {
    const res = await request(t.app).put('/fhir/Organization/o2').set('Content-Type', FHIR_JSON).send('{"resourceType":"Organization","id":"o3"}');
    expect(res.status).toBe(400);
    expect(res.body.issue[0]).toMatchObject({ code: 'invalid', expression: ['Organization.id'] });
    expect((await request(t.app).get('/fhir/Organization/o2')).status).toBe(404);
    expect((await request(t.app).get('/fhir/Organization/o3')).status).toBe(404);
  });

  it('an unknown resource type is 404, also in the wrong case', async () => {
    for (const path of ['/fhir/Observation', '/fhir/patient/1', '/fhir/Bogus/_search']) {
      const res = await request(t.app).get(path);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(outcome('not-found', expect.stringContaining('Unknown resource type')));
    }
    const post = await request(t.app).post('/fhir/Observation').set('Content-Type', FHIR_JSON).send('{"resourceType":"Observation"}');
    expect(post.status).toBe(404);
  });

  it('an unknown path outside the FHIR base is a 404 OperationOutcome', async () => {
    const res = await request(t.app).get('/nothing/here');
    expect(res.status).toBe(404);
    expect(res.body).toEqual(outcome('not-found', 'No such endpoint; the FHIR base is /fhir'));
  });

  it.each([
    ['text/plain', '{"resourceType":"Organization"}'],
    ['application/fhir+xml', '<Organization xmlns="http://hl7.org/fhir"/>'],
    ['application/x-www-form-urlencoded', 'name=x'],
  ])('a %s body is 415', async (type, body) => {
    const before = await organizationCount();
    const res = await request(t.app).post('/fhir/Organization').set('Content-Type', type).send(body);
    expect(res.status).toBe(415);
    expect(res.body).toEqual(outcome('not-supported', `Content-Type "${type}" is not supported; send application/fhir+json`));
    expect(await organizationCount()).toBe(before);
  });

  it('a body without a Content-Type is 415', async () => {
    const res = await request(t.app).post('/fhir/Organization').send(Buffer.from('{"resourceType":"Organization"}'));
    expect(res.status).toBe(415);
  });

  it('a method a URL does not take is 405 with Allow', async () => {
    const res = await request(t.app).post('/fhir/Organization/o1').set('Content-Type', FHIR_JSON).send('{"resourceType":"Organization"}');
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe('GET, HEAD, PUT, PATCH, DELETE');
    expect(res.body).toEqual(outcome('not-supported', 'POST is not allowed on this URL'));
    // Conditional delete is not supported (CapabilityStatement: conditionalDelete not-supported).
    const conditionalDelete = await request(t.app).delete('/fhir/Organization?name=x');
    expect(conditionalDelete.status).toBe(405);
  });

  it('an id with characters FHIR ids cannot have is 400; bad percent-encoding is 400', async () => {
    const res = await request(t.app).get('/fhir/Organization/a%20b');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(outcome('value', '"a b" is not a valid Organization id ([A-Za-z0-9-.]{1,64})'));
    const encoding = await request(t.app).get('/fhir/Organization/%E0%A4%A');
    expect(encoding.status).toBe(400);
    expect(encoding.body).toEqual(outcome('invalid', 'The URL path is not valid percent-encoding'));
  });

  it('an unknown operation is 404', async () => {
    const res = await request(t.app).post('/fhir/Organization/$nope').set('Content-Type', FHIR_JSON).send('{"resourceType":"Parameters"}');
    expect(res.status).toBe(404);
    expect(res.body).toEqual(outcome('not-found', 'Unknown operation $nope on Organization'));
  });
});

describe('unexpected errors', () => {
  it('are a 500 exception naming the request id, logged with it, and reveal nothing', async () => {
    logLines.length = 0;
    const res = await request(t.app).get('/fhir/Organization/$explode').set('X-Request-Id', 'req-4711');
    expect(res.status).toBe(500);
    expect(res.headers['x-request-id']).toBe('req-4711');
    expect(res.body).toEqual(outcome('exception', 'An unexpected error occurred; it was logged with request id req-4711.'));
    expect(res.text).not.toContain('secret');
    expect(res.text).not.toMatch(/\bat \S+ \(/);
    const logged = logLines.map((l) => JSON.parse(l) as { requestId?: string; err?: { message?: string } });
    expect(logged).toContainEqual(
      expect.objectContaining({ requestId: 'req-4711', err: expect.objectContaining({ message: expect.stringContaining('secret') }) }),
    );
  });

  it('get a fresh request id when the client sends none (or an unusable one)', async () => {
    const res = await request(t.app).get('/fhir/Organization/$explode').set('X-Request-Id', 'bad id with spaces');
    expect(res.status).toBe(500);
    const id = String(res.headers['x-request-id']);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.issue[0].diagnostics).toContain(id);
  });
});

describe('every error is an OperationOutcome', () => {
  it.each([
    ['GET', '/fhir/Organization/none'],
    ['GET', '/fhir/Organization?_count=x'],
    ['GET', '/fhir/Organization?_format=xml'],
    ['PUT', '/fhir/Organization'],
    ['GET', '/fhir'],
  ])('%s %s', async (method, path) => {
    const res = await request(t.app)[method === 'GET' ? 'get' : 'put'](path);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.length).toBeGreaterThan(0);
  });
});
