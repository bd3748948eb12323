import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import pino from 'pino';
import request from 'supertest';
import type { Response } from 'supertest';
import { ANONYMOUS } from '../../src/http/auth';
import { FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

/** A pino destination that keeps every JSON line. */
function captureLogs(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** The value of one sample in Prometheus text, e.g. `kairos_bookings_total{operation="$book"}`. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const day = 86_400_000;
const at = (days: number, minutes = 0): string => new Date(Date.now() + days * day + minutes * 60_000).toISOString();

describe('request ids, logs and metrics', () => {
  let t: TestApp;
  let logs: ReturnType<typeof captureLogs>;
  const post = (url: string, body: unknown): Promise<Response> =>
    request(t.app).post(url).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));

  beforeAll(async () => {
    logs = captureLogs();
    t = await startTestApp({}, { logger: logs.logger });
  });
  afterAll(async () => {
    await t.close();
  });

  it('echoes a client X-Request-Id and makes one up otherwise, also on errors and health checks', async () => {
    const given = await request(t.app).get('/fhir/Patient').set('X-Request-Id', 'trace-123');
    expect(given.headers['x-request-id']).toBe('trace-123');
    const made = await request(t.app).get('/fhir/Patient/missing');
    expect(made.status).toBe(404);
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await request(t.app).get('/healthz')).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await request(t.app).get('/fhir/Patient').set('X-Request-Id', 'bad id\twith "quotes"');
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('writes one JSON log line per request with the request id, interaction and status, without the query string', async () => {
    await request(t.app).get('/fhir/Patient?family=Secretname').set('X-Request-Id', 'log-check-1');
    const line = logs.lines.find((l) => l['requestId'] === 'log-check-1');
    expect(line).toMatchObject({ msg: 'request', method: 'GET', path: '/fhir/Patient', interaction: 'search-type', status: 200, resourceType: 'Patient' });
    expect(typeof line?.['ms']).toBe('number');
    expect(JSON.stringify(logs.lines)).not.toContain('Secretname');
  });

  it('logs an answered request once, and a request the client abandons once, as a warning', async () => {
    await request(t.app).get('/fhir/Patient').set('X-Request-Id', 'log-once-1');
    expect(logs.lines.filter((l) => l['requestId'] === 'log-once-1')).toHaveLength(1);

    // A token check that takes 200 ms: the client is gone before the answer is written.
    const slow = await startTestApp({}, { logger: logs.logger, authenticate: () => new Promise((resolve) => setTimeout(() => resolve(ANONYMOUS), 200)) });
    const server = slow.app.listen(0);
    try {
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nX-Request-Id: aborted-1\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      // Past the token check and the answer written to the closed connection.
      await new Promise((resolve) => setTimeout(resolve, 400));
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await slow.close();
    }
    const aborted = logs.lines.filter((l) => l['requestId'] === 'aborted-1');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ level: 40, msg: 'request aborted by the client', method: 'GET', path: '/fhir/Patient' });
  });

  it('serves Prometheus text with request counts, latencies, bookings, conflicts and store latency', async () => {
    const practitioner = await post('/fhir/Practitioner', { resourceType: 'Practitioner' });
    const schedule = await post('/fhir/Schedule', { resourceType: 'Schedule', active: true, actor: [{ reference: `Practitioner/${String(practitioner.body.id)}` }] });
    const slot = await post('/fhir/Slot', {
      resourceType: 'Slot',
      schedule: { reference: `Schedule/${String(schedule.body.id)}` },
      status: 'free',
      start: at(2),
      end: at(2, 30),
    });
    const book = {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment-resource', resource: { resourceType: 'Appointment', status: 'proposed', slot: [{ reference: `Slot/${String(slot.body.id)}` }] } }],
    };
    expect((await post('/fhir/Appointment/$book', book)).status).toBe(201);
    expect((await post('/fhir/Appointment/$book', book)).status).toBe(409);
    await request(t.app).get(`/fhir/Slot/${String(slot.body.id)}`);

    const res = await request(t.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.text;
    expect(sample(text, 'kairos_http_requests_total{interaction="read",status="200"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kairos_http_requests_total{interaction="$book",status="201"}')).toBe(1);
    expect(sample(text, 'kairos_http_request_duration_seconds_count{interaction="create",status="201"}')).toBe(3);
    expect(sample(text, 'kairos_bookings_total{operation="$book"}')).toBe(1);
    expect(sample(text, 'kairos_booking_conflicts_total{interaction="$book"}')).toBe(1);
    expect(sample(text, 'kairos_holds_expired_total')).toBe(0);
    expect(sample(text, 'kairos_store_operation_duration_seconds_count{operation="transaction",outcome="ok"}')).toBeGreaterThanOrEqual(3);
    expect(text).toContain('kairos_store_operation_duration_seconds_bucket{le="0.005",operation="read",outcome="ok"}');
  });

  it('keeps each app its own registry', async () => {
    const other = await startTestApp();
    try {
      const text = (await request(other.app).get('/metrics')).text;
      expect(sample(text, 'kairos_bookings_total{operation="$book"}')).toBeUndefined();
      expect(text).toContain('# TYPE kairos_http_requests_total counter');
    } finally {
      await other.close();
    }
  });
});

describe('health endpoints', () => {
  it('answers /healthz while up and /readyz 503 once the store is gone', async () => {
    const t = await startTestApp();
    try {
      expect((await request(t.app).get('/healthz')).body).toEqual({ status: 'ok' });
      expect((await request(t.app).get('/readyz')).body).toEqual({ status: 'ready', store: 'embedded' });
      await t.store.close();
      const res = await request(t.app).get('/readyz');
      expect(res.status).toBe(503);
      expect((await request(t.app).get('/healthz')).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('abuse limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses a body over 1 MB with 413 too-long', async () => {
    const big = JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: `<div>${'x'.repeat(1_100_000)}</div>` } });
    const res = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(big);
    expect(res.status).toBe(413);
    expect(res.body.issue[0].code).toBe('too-long');
  });

  it('caps _count at 1000', async () => {
    const res = await request(t.app).get('/fhir/Slot?_count=100000');
    expect(res.status).toBe(200);
    const self = (res.body.link as Array<{ relation: string; url: string }>).find((l) => l.relation === 'self');
    expect(self?.url).toContain('_count=1000');
  });

  it('refuses a $find window longer than 31 days', async () => {
    const res = await request(t.app).get(`/fhir/Appointment/$find?start=${encodeURIComponent(at(1))}&end=${encodeURIComponent(at(40))}`);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].code).toBe('too-costly');
  });
});

describe('metrics with AUTH_MODE=jwt', () => {
  it('refuses a patient-context token', async () => {
    const env = { AUTH_MODE: 'jwt', JWT_SECRET: 'a-development-secret-of-at-least-32-bytes', JWT_ISSUER: 'iss', JWT_AUDIENCE: 'aud' };
    const t = await startTestApp(env);
    try {
      const token = await new SignJWT({ sub: 'p', patient: 'p1', scope: 'patient/*.*' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('iss')
        .setAudience('aud')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(env.JWT_SECRET));
      const res = await request(t.app).get('/metrics').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(403);
    } finally {
      await t.close();
    }
  });
});
