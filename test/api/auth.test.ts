import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWTPayload, KeyLike } from 'jose';
import request from 'supertest';
import type { Response, Test } from 'supertest';
import { parseScope, scopeAllows } from '../../src/fhir/smart-scopes';
import { createRateLimiter } from '../../src/http/rate-limit';
import { FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

const ISSUER = 'https://auth.example.org';
const AUDIENCE = 'https://kairos.example.org/fhir';
const SECRET = 'a-development-secret-of-at-least-32-bytes';
const JWT_ENV = { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };

interface TokenOptions {
  secret?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative = already expired. */
  expiresIn?: number;
  notBefore?: number;
}

async function token(claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(now - 10)
    .setExpirationTime(now + (options.expiresIn ?? 300));
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

const staffToken = (scope = 'user/*.*', sub = 'dr-who'): Promise<string> => token({ sub, scope, fhirUser: 'Practitioner/dr-who' });
const patientToken = (patient: string, scope = 'patient/*.* openid fhirUser'): Promise<string> =>
  token({ sub: `portal-${patient}`, scope, patient });

function outcomeCode(res: Response): unknown {
  return (res.body as { issue?: Array<{ code?: string }> }).issue?.[0]?.code;
}

function ids(res: Response, type?: string): string[] {
  const entries = (res.body as { entry?: Array<{ resource?: { resourceType: string; id?: string } }> }).entry ?? [];
  return entries
    .filter((e) => type === undefined || e.resource?.resourceType === type)
    .map((e) => `${e.resource?.resourceType ?? ''}/${e.resource?.id ?? ''}`)
    .sort();
}

describe('SMART scopes', () => {
  it('reads v1 read/write/* and v2 cruds permissions', () => {
    expect([...(parseScope('patient/Appointment.read')?.verbs ?? [])].sort()).toEqual(['r', 's']);
    expect([...(parseScope('user/*.write')?.verbs ?? [])].sort()).toEqual(['c', 'd', 'u']);
    expect([...(parseScope('system/*.*')?.verbs ?? [])].sort()).toEqual(['c', 'd', 'r', 's', 'u']);
    expect([...(parseScope('patient/Appointment.rs')?.verbs ?? [])].sort()).toEqual(['r', 's']);
    expect([...(parseScope('user/Slot.cruds')?.verbs ?? [])].sort()).toEqual(['c', 'd', 'r', 's', 'u']);
  });

  it('grants nothing for non-clinical, out-of-order or search-restricted scopes', () => {
    expect(parseScope('openid')).toBeUndefined();
    expect(parseScope('launch/patient')).toBeUndefined();
    expect(parseScope('user/Appointment.sr')).toBeUndefined();
    expect(parseScope('patient/Appointment.rs?status=booked')).toBeUndefined();
    expect(parseScope('admin/*.*')).toBeUndefined();
  });

  it('allows a verb only for the named type or *, and only in the given contexts', () => {
    const scopes = ['patient/Appointment.rs', 'user/Slot.read', 'openid'];
    expect(scopeAllows(scopes, 'Appointment', 's')).toBe(true);
    expect(scopeAllows(scopes, 'Appointment', 'c')).toBe(false);
    expect(scopeAllows(scopes, 'Patient', 'r')).toBe(false);
    expect(scopeAllows(scopes, 'Appointment', 'r', ['user', 'system'])).toBe(false);
    expect(scopeAllows(['system/*.read'], 'AuditEvent', 'r')).toBe(true);
  });
});

describe('rate limiter', () => {
  it('refuses once the burst is spent and refills at the per-minute rate', () => {
    let now = 0;
    const limiter = createRateLimiter({ perMinute: 60, burst: 2, now: () => now });
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take('b').allowed).toBe(true);
    now += 1000;
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
  });
});

describe('authentication (AUTH_MODE=jwt)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(JWT_ENV);
  });
  afterAll(async () => {
    await t.close();
  });

  it('returns 401 login with a Bearer challenge when there is no token', async () => {
    const res = await request(t.app).get('/fhir/Patient');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="kairos"');
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(outcomeCode(res)).toBe('login');
  });

  it('serves metadata, healthz and readyz without a token; metadata advertises SMART-on-FHIR', async () => {
    const metadata = await request(t.app).get('/fhir/metadata');
    expect(metadata.status).toBe(200);
    expect(metadata.body.rest[0].security.service[0].coding[0]).toMatchObject({
      system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
      code: 'SMART-on-FHIR',
    });
    expect((await request(t.app).get('/healthz')).status).toBe(200);
    expect((await request(t.app).get('/readyz')).status).toBe(200);
  });

  it('refuses a token that is not a Bearer token', async () => {
    const res = await request(t.app).get('/fhir/Patient').set('Authorization', 'Basic dXNlcjpwYXNz');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it.each<[string, () => Promise<string>, string]>([
    ['expired', () => token({ sub: 'x', scope: 'user/*.*' }, { expiresIn: -120 }), 'expired'],
    ['not yet valid', () => token({ sub: 'x', scope: 'user/*.*' }, { notBefore: 600 }), 'nbf'],
    ['for another audience', () => token({ sub: 'x', scope: 'user/*.*' }, { audience: 'https://other.example.org' }), 'aud'],
    ['from another issuer', () => token({ sub: 'x', scope: 'user/*.*' }, { issuer: 'https://evil.example.org' }), 'iss'],
    ['signed with another key', () => token({ sub: 'x', scope: 'user/*.*' }, { secret: 'another-secret-of-at-least-32-bytes!!' }), 'signature'],
    ['without a subject', () => token({ scope: 'user/*.*' }), 'sub'],
  ])('returns 401 invalid_token for a token %s', async (_what, make, reason) => {
    const res = await request(t.app)
      .get('/fhir/Patient')
      .set('Authorization', `Bearer ${await make()}`);
    expect(res.status).toBe(401);
    expect(outcomeCode(res)).toBe('login');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(String(res.body.issue[0].diagnostics)).toContain(reason);
  });

  it('returns 401 for an unsigned (alg none) token', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({ sub: 'x', scope: 'system/*.*', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 }),
    ).toString('base64url');
    const res = await request(t.app).get('/fhir/Patient').set('Authorization', `Bearer ${header}.${body}.`);
    expect(res.status).toBe(401);
  });

  it('accepts a valid token and answers 403 forbidden when its scopes lack the type or verb', async () => {
    const reader = await token({ sub: 'reader', scope: 'user/Patient.read' });
    expect((await request(t.app).get('/fhir/Patient').set('Authorization', `Bearer ${reader}`)).status).toBe(200);
    const denied = await request(t.app).get('/fhir/Appointment').set('Authorization', `Bearer ${reader}`);
    expect(denied.status).toBe(403);
    expect(outcomeCode(denied)).toBe('forbidden');
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="kairos", error="insufficient_scope", scope="user/Appointment.s"');
    const write = await request(t.app)
      .post('/fhir/Patient')
      .set('Authorization', `Bearer ${reader}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Patient' }));
    expect(write.status).toBe(403);
    const all = await request(t.app).get('/fhir/Patient').set('Authorization', `Bearer ${reader}`);
    expect(all.body.total).toBe(0);
  });

  it('honours v2 scopes: rs reads and searches but does not create', async () => {
    const v2 = await token({ sub: 'v2', scope: 'user/Slot.rs' });
    expect((await request(t.app).get('/fhir/Slot').set('Authorization', `Bearer ${v2}`)).status).toBe(200);
    const create = await request(t.app)
      .post('/fhir/Slot')
      .set('Authorization', `Bearer ${v2}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Slot' }));
    expect(create.status).toBe(403);
  });

  it('ignores patient/ scopes on a token without a patient context', async () => {
    const res = await request(t.app)
      .get('/fhir/Slot')
      .set('Authorization', `Bearer ${await token({ sub: 'svc', scope: 'patient/*.*' })}`);
    expect(res.status).toBe(403);
  });

  it('refuses a /metrics scrape without a token', async () => {
    expect((await request(t.app).get('/metrics')).status).toBe(401);
    const ok = await request(t.app)
      .get('/metrics')
      .set('Authorization', `Bearer ${await token({ sub: 'prometheus', scope: 'system/*.read' })}`);
    expect(ok.status).toBe(200);
  });
});

describe('authentication with a JWKS file', () => {
  let t: TestApp;
  let privateKey: KeyLike;
  let keyDir: string;
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    keyDir = mkdtempSync(path.join(tmpdir(), 'kairos-jwks-'));
    const file = path.join(keyDir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    t = await startTestApp({ AUTH_MODE: 'jwt', JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_JWKS: file });
  });
  afterAll(async () => {
    await t.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('verifies an RS256 token against the file and refuses an HS256 one', async () => {
    const now = Math.floor(Date.now() / 1000);
    const rs = await new SignJWT({ sub: 'svc', scope: 'system/*.*' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    expect((await request(t.app).get('/fhir/Patient').set('Authorization', `Bearer ${rs}`)).status).toBe(200);
    const hs = await token({ sub: 'svc', scope: 'system/*.*' });
    expect((await request(t.app).get('/fhir/Patient').set('Authorization', `Bearer ${hs}`)).status).toBe(401);
  });
});

describe('authentication with a JWKS URL', () => {
  let t: TestApp;
  let keys: Server;
  let privateKey: KeyLike;
  let fetches = 0;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'e1', alg: 'ES256', use: 'sig' }] });
    keys = createServer((_req, res) => {
      fetches++;
      res.setHeader('Content-Type', 'application/json');
      res.end(jwks);
    });
    await new Promise<void>((resolve) => keys.listen(0, '127.0.0.1', resolve));
    const address = keys.address() as AddressInfo;
    t = await startTestApp({ AUTH_MODE: 'jwt', JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_JWKS: `http://127.0.0.1:${address.port}/jwks.json` });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => keys.close(resolve));
  });

  it('fetches the key set on the first token, not when the app is built, and caches it', async () => {
    expect(fetches).toBe(0);
    const es = await new SignJWT({ sub: 'svc', scope: 'system/*.*' })
      .setProtectedHeader({ alg: 'ES256', kid: 'e1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('1m')
      .sign(privateKey);
    expect((await request(t.app).get('/fhir/Slot').set('Authorization', `Bearer ${es}`)).status).toBe(200);
    expect((await request(t.app).get('/fhir/Slot').set('Authorization', `Bearer ${es}`)).status).toBe(200);
    expect(fetches).toBe(1);
  });

  it('answers 503 when the key set cannot be fetched', async () => {
    const unreachable = await startTestApp({ AUTH_MODE: 'jwt', JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_JWKS: 'http://127.0.0.1:1/jwks.json' });
    try {
      const es = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'ES256', kid: 'e1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('1m').sign(privateKey);
      const res = await request(unreachable.app).get('/fhir/Slot').set('Authorization', `Bearer ${es}`);
      expect(res.status).toBe(503);
      expect(res.body.resourceType).toBe('OperationOutcome');
    } finally {
      await unreachable.close();
    }
  });
});

describe('patient-context tokens', () => {
  let t: TestApp;
  let staff: string;
  let alice: string;
  const ref = { alice: '', bob: '', practitioner: '' };
  const appt = { alice: '', bob: '', shared: '' };
  let slot = '';

  const as = (bearer: string, req: Test): Test => req.set('Authorization', `Bearer ${bearer}`);
  const post = (bearer: string, url: string, body: unknown): Test =>
    as(bearer, request(t.app).post(url).set('Content-Type', FHIR_JSON).send(JSON.stringify(body)));
  const get = (bearer: string, url: string): Test => as(bearer, request(t.app).get(url));

  async function create(type: string, body: Record<string, unknown>): Promise<string> {
    const res = await post(staff, `/fhir/${type}`, { resourceType: type, ...body });
    expect(res.status).toBe(201);
    return String(res.body.id);
  }

  const day = 86_400_000;
  const at = (days: number, minutes = 0): string => new Date(Date.now() + days * day + minutes * 60_000).toISOString();

  beforeAll(async () => {
    t = await startTestApp(JWT_ENV);
    staff = await staffToken();
    ref.alice = `Patient/${await create('Patient', { name: [{ family: 'Alice' }] })}`;
    ref.bob = `Patient/${await create('Patient', { name: [{ family: 'Bob' }] })}`;
    alice = await patientToken(ref.alice.slice('Patient/'.length));
    ref.practitioner = `Practitioner/${await create('Practitioner', { name: [{ family: 'Carer' }] })}`;
    const booked = (patients: string[], days: number) => ({
      status: 'booked',
      start: at(days),
      end: at(days, 30),
      participant: [...patients, ref.practitioner].map((reference) => ({ actor: { reference }, status: 'accepted' })),
    });
    appt.alice = await create('Appointment', booked([ref.alice], 3));
    appt.bob = await create('Appointment', booked([ref.bob], 4));
    appt.shared = await create('Appointment', booked([ref.alice, ref.bob], 5));
    const schedule = await create('Schedule', { active: true, actor: [{ reference: ref.practitioner }] });
    slot = await create('Slot', { schedule: { reference: `Schedule/${schedule}` }, status: 'free', start: at(6), end: at(6, 30) });
  });
  afterAll(async () => {
    await t.close();
  });

  it('reads its own Patient and Appointment', async () => {
    expect((await get(alice, `/fhir/${ref.alice}`)).status).toBe(200);
    expect((await get(alice, `/fhir/Appointment/${appt.alice}`)).status).toBe(200);
    expect((await get(alice, `/fhir/Appointment/${appt.shared}`)).status).toBe(200);
  });

  it('gets 404 reading another patient or their Appointment (read, vread, history)', async () => {
    expect((await get(alice, `/fhir/${ref.bob}`)).status).toBe(404);
    const read = await get(alice, `/fhir/Appointment/${appt.bob}`);
    expect(read.status).toBe(404);
    expect(outcomeCode(read)).toBe('not-found');
    expect((await get(alice, `/fhir/Appointment/${appt.bob}/_history/1`)).status).toBe(404);
    expect((await get(alice, `/fhir/Appointment/${appt.bob}/_history`)).status).toBe(404);
    expect((await get(alice, `/fhir/Appointment/no-such-id`)).status).toBe(404);
  });

  it('is refused type history of Appointment and Patient', async () => {
    expect((await get(alice, '/fhir/Appointment/_history')).status).toBe(403);
    expect((await get(alice, '/fhir/Patient/_history')).status).toBe(403);
  });

  it('searches only its own Appointments and Patient, whatever the criteria', async () => {
    const mine = await get(alice, '/fhir/Appointment');
    expect(mine.status).toBe(200);
    expect(ids(mine)).toEqual([`Appointment/${appt.alice}`, `Appointment/${appt.shared}`].sort());
    expect(mine.body.total).toBe(2);
    const bobs = await get(alice, `/fhir/Appointment?patient=${ref.bob}`);
    expect(ids(bobs)).toEqual([`Appointment/${appt.shared}`]);
    const byPractitioner = await get(alice, `/fhir/Appointment?practitioner=${ref.practitioner}`);
    expect(ids(byPractitioner)).toEqual([`Appointment/${appt.alice}`, `Appointment/${appt.shared}`].sort());
    const patients = await get(alice, '/fhir/Patient');
    expect(ids(patients)).toEqual([ref.alice]);
    const posted = await as(alice, request(t.app).post('/fhir/Appointment/_search'))
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(`patient=${ref.bob}`);
    expect(ids(posted)).toEqual([`Appointment/${appt.shared}`]);
  });

  it('never receives other patients through _include or _revinclude', async () => {
    const included = await get(alice, '/fhir/Appointment?_include=Appointment:patient&_include=Appointment:actor');
    expect(ids(included, 'Patient')).toEqual([ref.alice]);
    expect(ids(included, 'Practitioner')).toEqual([ref.practitioner]);
    const revincluded = await get(alice, `/fhir/Practitioner?_id=${ref.practitioner.split('/')[1] ?? ''}&_revinclude=Appointment:practitioner`);
    expect(revincluded.status).toBe(200);
    expect(ids(revincluded, 'Appointment')).toEqual([`Appointment/${appt.alice}`, `Appointment/${appt.shared}`].sort());
    const patientRev = await get(alice, `/fhir/Patient?_revinclude=Appointment:patient`);
    expect(ids(patientRev, 'Appointment')).toEqual([`Appointment/${appt.alice}`, `Appointment/${appt.shared}`].sort());
  });

  it('is refused chained searches into patient records', async () => {
    expect((await get(alice, '/fhir/Appointment?actor.name=Bob')).status).toBe(403);
    expect((await get(alice, '/fhir/Appointment?actor:Practitioner.name=Carer')).status).toBe(200);
  });

  it('reads the public directory but nothing else', async () => {
    expect((await get(alice, '/fhir/Slot')).status).toBe(200);
    expect((await get(alice, `/fhir/${ref.practitioner}`)).status).toBe(200);
    expect((await get(alice, '/fhir/Schedule')).status).toBe(200);
    expect((await get(alice, '/fhir/AuditEvent')).status).toBe(403);
  });

  it('cannot reach another patient through a batch or a transaction', async () => {
    const bundle = (type: string) => ({
      resourceType: 'Bundle',
      type,
      entry: [
        { request: { method: 'GET', url: `Appointment/${appt.bob}` } },
        { request: { method: 'GET', url: `Appointment?patient=${ref.bob}` } },
        { request: { method: 'GET', url: `${ref.bob}` } },
      ],
    });
    const batch = await post(alice, '/fhir', bundle('batch'));
    expect(batch.status).toBe(200);
    const [one, two, three] = batch.body.entry as Array<{ response: { status: string }; resource?: { entry?: Array<{ resource: { id: string } }> } }>;
    expect(one?.response.status).toMatch(/^404/);
    expect(two?.response.status).toMatch(/^200/);
    expect((two?.resource?.entry ?? []).map((e) => e.resource.id)).toEqual([appt.shared]);
    expect(three?.response.status).toMatch(/^404/);
    const transaction = await post(alice, '/fhir', bundle('transaction'));
    expect(transaction.status).toBe(404);
    const write = await post(alice, '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Sneaky' }] } }],
    });
    expect(write.status).toBe(403);
    expect((await get(staff, '/fhir/Patient?family=Sneaky')).body.total).toBe(0);
  });

  it('cannot create, delete or reschedule Appointments by plain REST', async () => {
    const created = await post(alice, '/fhir/Appointment', {
      resourceType: 'Appointment',
      status: 'booked',
      start: at(7),
      end: at(7, 30),
      participant: [{ actor: { reference: ref.alice }, status: 'accepted' }],
    });
    expect(created.status).toBe(403);
    expect((await as(alice, request(t.app).delete(`/fhir/Appointment/${appt.alice}`))).status).toBe(403);
    const current = (await get(staff, `/fhir/Appointment/${appt.alice}`)).body as Record<string, unknown>;
    const moved = await as(alice, request(t.app).put(`/fhir/Appointment/${appt.alice}`))
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ ...current, start: at(8), end: at(8, 30) }));
    expect(moved.status).toBe(403);
    const bobs = await as(alice, request(t.app).patch(`/fhir/Appointment/${appt.bob}`))
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/status', value: 'cancelled' }]));
    expect(bobs.status).toBe(404);
    expect((await get(staff, `/fhir/Appointment/${appt.bob}`)).body.status).toBe('booked');
  });

  it('may never give an override reason', async () => {
    const header = await get(alice, '/fhir/Slot').set('X-Override-Reason', 'because');
    expect(header.status).toBe(403);
    const param = await post(alice, '/fhir/Appointment/$book', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'appointment-resource', resource: { resourceType: 'Appointment', status: 'proposed', slot: [{ reference: `Slot/${slot}` }] } },
        { name: 'override-reason', valueString: 'urgent' },
      ],
    });
    expect(param.status).toBe(403);
  });

  it('finds, holds and books only for itself', async () => {
    const window = `start=${encodeURIComponent(at(0))}&end=${encodeURIComponent(at(10))}`;
    expect((await get(alice, `/fhir/Appointment/$find?${window}&patient-reference=${ref.bob}`)).status).toBe(403);
    const found = await get(alice, `/fhir/Appointment/$find?${window}`);
    expect(found.status).toBe(200);
    const proposal = (found.body.entry as Array<{ resource: { participant: Array<{ actor: { reference: string } }> } }>)[0]?.resource;
    expect(proposal?.participant.map((p) => p.actor.reference)).toContain(ref.alice);
    const forBob = await post(alice, '/fhir/Appointment/$hold', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'appointment-resource', resource: proposal },
        { name: 'patient-reference', valueReference: { reference: ref.bob } },
      ],
    });
    expect(forBob.status).toBe(403);
    const bookBobs = await post(alice, `/fhir/Appointment/${appt.bob}/$book`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment-reference', valueReference: { reference: `Appointment/${appt.bob}` } }],
    });
    expect(bookBobs.status).toBe(404);
    const held = await post(alice, '/fhir/Appointment/$hold', {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment-resource', resource: proposal }],
    });
    expect(held.status).toBe(201);
    const booked = await post(alice, `/fhir/Appointment/${String(held.body.id)}/$book`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment-reference', valueReference: { reference: `Appointment/${String(held.body.id)}` } }],
    });
    expect(booked.status).toBe(200);
    expect(booked.body.status).toBe('booked');
    expect((booked.body.participant as Array<{ actor: { reference: string } }>).map((p) => p.actor.reference)).toContain(ref.alice);
  });

  it('cancels its own Appointment, and the audit trail names the token subject', async () => {
    const res = await as(alice, request(t.app).patch(`/fhir/Appointment/${appt.alice}`))
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/status', value: 'cancelled' }]));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('cancelled');
    const audit = await get(staff, `/fhir/AuditEvent?entity=Appointment/${appt.alice}`);
    expect(audit.status).toBe(200);
    const agents = (audit.body.entry as Array<{ resource: { agent: Array<{ altId?: string }> } }>).map((e) => e.resource.agent[0]?.altId);
    expect(agents).toContain(`portal-${ref.alice.slice('Patient/'.length)}`);
    expect(agents).toContain('dr-who');
  });
});

describe('booking rate limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ...JWT_ENV, RATE_LIMIT_BOOKINGS_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 429 throttled with Retry-After once a client spends its booking budget, per client', async () => {
    const first = await staffToken('user/*.*', 'busy-client');
    const hold = (bearer: string): Test =>
      request(t.app)
        .post('/fhir/Appointment/$hold')
        .set('Authorization', `Bearer ${bearer}`)
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify({ resourceType: 'Parameters', parameter: [] }));
    expect((await hold(first)).status).toBe(400);
    expect((await hold(first)).status).toBe(400);
    const limited = await hold(first);
    expect(limited.status).toBe(429);
    expect(outcomeCode(limited)).toBe('throttled');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Searches are not booking operations; another client has its own bucket.
    expect((await request(t.app).get('/fhir/Slot').set('Authorization', `Bearer ${first}`)).status).toBe(200);
    expect((await hold(await staffToken('user/*.*', 'other-client'))).status).toBe(400);
    const bundle = await request(t.app)
      .post('/fhir')
      .set('Authorization', `Bearer ${await staffToken('user/*.*', 'bundler')}`)
      .set('Content-Type', FHIR_JSON)
      .send(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [1, 2, 3].map(() => ({ request: { method: 'POST', url: 'Appointment/$book' }, resource: { resourceType: 'Parameters' } })),
        }),
      );
    expect(bundle.status).toBe(429);
  });
});
