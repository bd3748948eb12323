import { readFileSync } from 'node:fs';
import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4';
import request from 'supertest';
import type { Response } from 'supertest';
import {
  buildCapabilityStatement,
  CAPABILITY_STATEMENT_FILE,
  formatStatement,
  loadSources,
  readCommittedStatement,
} from '../../scripts/generate-capability-statement';
import { OPERATIONS } from '../../src/app';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types';
import type { ResourceType } from '../../src/fhir/resource-types';
import { FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

const REGENERATE = 'run `npm run capability` and commit capability-statement.json';

const committed = readCommittedStatement();
if (committed === undefined) throw new Error(`capability-statement.json is missing: ${REGENERATE}`);
const statement: CapabilityStatement = committed;
const resources: CapabilityStatementRestResource[] = statement.rest?.[0]?.resource ?? [];

function declared(type: ResourceType): CapabilityStatementRestResource {
  const resource = resources.find((r) => r.type === type);
  if (resource === undefined) throw new Error(`${type} is not in the CapabilityStatement`);
  return resource;
}

/** A minimal valid instance of each type, for exercising the declared interactions. */
const SAMPLES: Readonly<Record<ResourceType, Record<string, unknown>>> = {
  Schedule: { resourceType: 'Schedule', actor: [{ reference: 'Practitioner/cap' }] },
  Slot: { resourceType: 'Slot', schedule: { reference: 'Schedule/cap' }, status: 'free', start: '2032-01-01T09:00:00Z', end: '2032-01-01T09:15:00Z' },
  Appointment: { resourceType: 'Appointment', status: 'proposed', participant: [{ actor: { reference: 'Practitioner/cap' }, status: 'needs-action' }] },
  Patient: { resourceType: 'Patient' },
  Practitioner: { resourceType: 'Practitioner' },
  PractitionerRole: { resourceType: 'PractitionerRole' },
  Location: { resourceType: 'Location' },
  HealthcareService: { resourceType: 'HealthcareService' },
  Organization: { resourceType: 'Organization', name: 'Cap' },
  AuditEvent: {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100' },
    recorded: '2032-01-01T09:00:00Z',
    agent: [{ who: { reference: 'Practitioner/cap' }, requestor: true }],
    source: { observer: { reference: 'Practitioner/cap' } },
  },
};

describe('capability-statement.json', () => {
  it(`is what the route, search-parameter and operation tables produce (${REGENERATE})`, () => {
    const rebuilt = buildCapabilityStatement(statement, loadSources());
    expect(statement).toEqual(rebuilt);
    expect(readFileSync(CAPABILITY_STATEMENT_FILE, 'utf8')).toBe(formatStatement(rebuilt));
  });

  it('lists every stored resource type once, and every operation', () => {
    expect(resources.map((r) => r.type)).toEqual([...RESOURCE_TYPES]);
    const operations = resources.flatMap((r) => (r.operation ?? []).map((o) => `${r.type}/$${o.name} ${o.definition}`));
    expect(operations.sort()).toEqual(OPERATIONS.map((o) => `${o.resourceType}/$${o.name} ${o.definition.url ?? ''}`).sort());
  });

  it('declares what the issue asks for', () => {
    expect(statement).toMatchObject({ fhirVersion: '4.0.1', kind: 'instance', patchFormat: ['application/json-patch+json'] });
    expect(statement.rest?.[0]?.interaction).toEqual([{ code: 'transaction' }, { code: 'batch' }]);
    for (const r of resources) {
      expect(r).toMatchObject({
        versioning: 'versioned-update',
        readHistory: true,
        conditionalCreate: true,
        conditionalDelete: 'not-supported',
      });
      expect(r.updateCreate).toBe(r.type !== 'AuditEvent');
    }
    expect(declared('Slot').searchInclude).toContain('Slot:schedule');
    expect(declared('Slot').searchRevInclude).toContain('Appointment:slot');
    expect(declared('Appointment').searchInclude).toEqual(expect.arrayContaining(['Appointment:slot', 'Appointment:actor', 'Appointment:patient']));
    expect(declared('Schedule').searchInclude).toContain('Schedule:actor');
    expect(declared('PractitionerRole').searchInclude).toContain('PractitionerRole:practitioner');
    expect(declared('Slot').searchParam).toContainEqual(expect.objectContaining({ name: 'end', type: 'date' }));
    expect(declared('Slot').searchParam).toContainEqual({
      name: 'schedule',
      definition: 'http://hl7.org/fhir/SearchParameter/Slot-schedule',
      type: 'reference',
    });
  });
});

describe('the live server agrees with the CapabilityStatement', () => {
  let t: TestApp;
  const ids = new Map<ResourceType, string>();

  beforeAll(async () => {
    t = await startTestApp();
    for (const type of RESOURCE_TYPES) {
      const res = await request(t.app).post(`/fhir/${type}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(SAMPLES[type]));
      if (res.status !== 201) throw new Error(`sample ${type}: ${res.status} ${JSON.stringify(res.body)}`);
      ids.set(type, String(res.body.id));
    }
  });

  afterAll(async () => {
    await t.close();
  });

  it('GET /fhir/metadata answers the file', async () => {
    const res = await request(t.app).get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual(statement);
  });

  /** Performs one interaction on the sample resource of `type`. */
  function perform(type: ResourceType, code: string): Promise<Response> {
    const id = ids.get(type) ?? 'missing';
    const json = (req: request.Test, body: unknown): request.Test => req.set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
    switch (code) {
      case 'read':
        return request(t.app).get(`/fhir/${type}/${id}`);
      case 'vread':
        return request(t.app).get(`/fhir/${type}/${id}/_history/1`);
      case 'update':
        return json(request(t.app).put(`/fhir/${type}/${id}`), { ...SAMPLES[type], id });
      case 'patch':
        return request(t.app)
          .patch(`/fhir/${type}/${id}`)
          .set('Content-Type', 'application/json-patch+json')
          .send(JSON.stringify([{ op: 'test', path: '/resourceType', value: type }]));
      case 'delete':
        return request(t.app).delete(`/fhir/${type}/${id}`);
      case 'history-instance':
        return request(t.app).get(`/fhir/${type}/${id}/_history`);
      case 'history-type':
        return request(t.app).get(`/fhir/${type}/_history`);
      case 'create':
        return json(request(t.app).post(`/fhir/${type}`), SAMPLES[type]);
      case 'search-type':
        return request(t.app).get(`/fhir/${type}`);
      default:
        throw new Error(`no request for ${code}`);
    }
  }

  const ALL = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];

  it.each(RESOURCE_TYPES)('%s: each declared interaction succeeds and each other one is 405', async (type) => {
    const codes = (declared(type).interaction ?? []).map((i) => i.code);
    // delete last: it would make the others answer 410.
    const order = [...ALL.filter((c) => c !== 'delete'), 'delete'];
    for (const code of order) {
      const res = await perform(type, code);
      // The code travels with the status so that a failure names the interaction.
      const expected = codes.some((c) => c === code) ? /^\S+ 2\d\d$/ : /^\S+ 405$/;
      expect(`${code} ${res.status}`).toMatch(expected);
    }
  });

  it.each(RESOURCE_TYPES)('%s: every declared search parameter, _include and _revinclude is accepted strictly', async (type) => {
    const r = declared(type);
    const queries = [
      ...(r.searchParam ?? []).map((p) => `${p.name}:missing=true`),
      ...(r.searchInclude ?? []).map((i) => `_include=${i}`),
      ...(r.searchRevInclude ?? []).map((i) => `_revinclude=${i}`),
    ];
    for (const query of queries) {
      const res = await request(t.app).get(`/fhir/${type}?${query}`).set('Prefer', 'handling=strict');
      expect([query, res.status]).toEqual([query, 200]);
    }
  });

  it('each declared operation is routed (neither 404 nor 405)', async () => {
    for (const r of resources) {
      for (const op of r.operation ?? []) {
        const operation = OPERATIONS.find((o) => o.resourceType === r.type && o.name === op.name);
        const type = r.type as ResourceType;
        let path = `/fhir/${type}/$${op.name}`;
        if (operation?.definition.type === false) {
          // The samples were deleted above: an instance-level operation gets a fresh one.
          const fresh = await request(t.app).post(`/fhir/${type}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(SAMPLES[type]));
          path = `/fhir/${type}/${String(fresh.body.id)}/$${op.name}`;
        }
        const res = await request(t.app)
          .post(path)
          .set('Content-Type', FHIR_JSON)
          .send(JSON.stringify({ resourceType: 'Parameters' }));
        expect([path, res.status]).not.toEqual([path, 404]);
        expect([path, res.status]).not.toEqual([path, 405]);
      }
    }
  });

  it('an undeclared operation is 404', async () => {
    const res = await request(t.app).post('/fhir/Slot/$book').set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Parameters' }));
    expect(res.status).toBe(404);
  });

  it('the declared system interactions batch and transaction are answered', async () => {
    for (const type of ['batch', 'transaction']) {
      const res = await request(t.app).post('/fhir').set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Bundle', type, entry: [] }));
      expect(res.status).toBe(200);
      expect(res.body.type).toBe(`${type}-response`);
    }
  });
});
