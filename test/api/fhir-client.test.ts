import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, CapabilityStatement, OperationOutcome, Organization, Patient, Practitioner } from 'fhir/r4';
import Client from 'fhir-kit-client';
import { startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

/**
 * Drives a real listening server through fhir-kit-client 1.9.2, as an SDK client would: the
 * paging links the server writes must be absolute URLs the client can follow, so the app's
 * BASE_URL is the address it really listens on.
 */

let t: TestApp;
let server: http.Server;
let client: Client;

/** fhir-kit-client types every resource loosely; this names what the server sent. */
function as<T>(resource: unknown): T {
  return resource as T;
}

/** fhir-kit-client rejects with `{ response: { status, data } }` on a non-2xx answer. */
async function failure(promise: Promise<unknown>): Promise<{ status: number; data: OperationOutcome }> {
  try {
    await promise;
  } catch (e) {
    const response = (e as { response?: { status: number; data: OperationOutcome } }).response;
    if (response !== undefined) return response;
    throw e;
  }
  throw new Error('expected the request to fail');
}

// fhir-kit-client reads `postSearch` from the request options; its typings only list RequestInit.
const POST_SEARCH = { postSearch: true } as RequestInit & { postSearch: boolean };

function etagOf(resource: unknown): string | null {
  return Client.httpFor(as<Parameters<typeof Client.httpFor>[0]>(resource)).response.headers.get('etag');
}

beforeAll(async () => {
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}/fhir`;
  t = await startTestApp({ BASE_URL: baseUrl });
  handler = t.app;
  client = new Client({ baseUrl });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await t.close();
});

describe('fhir-kit-client against Kairos', () => {
  it('reads the capability statement and finds the interactions it relies on', async () => {
    const statement = as<CapabilityStatement>(await client.capabilityStatement());
    expect(statement.resourceType).toBe('CapabilityStatement');
    expect(statement.fhirVersion).toBe('4.0.1');
    const rest = statement.rest?.[0];
    const resource = (type: string) => rest?.resource?.find((r) => r.type === type);
    expect(rest?.interaction?.map((i) => i.code)).toContain('transaction');
    expect(resource('Patient')?.interaction?.map((i) => i.code)).toContain('patch');
    expect(resource('AuditEvent')?.interaction?.map((i) => i.code)).not.toContain('update');
    expect(resource('Slot')?.searchParam?.map((p) => p.name)).toContain('start');
  });

  it('creates and reads a resource', async () => {
    const created = as<Patient>(await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Kit' }] } }));
    expect(created.id).toBeDefined();
    expect(created.meta?.versionId).toBe('1');
    expect(etagOf(created)).toBe('W/"1"');
    const read = as<Patient>(await client.read({ resourceType: 'Patient', id: String(created.id) }));
    expect(read.name).toEqual([{ family: 'Kit' }]);
  });

  it('updates with If-Match, and a stale If-Match fails with 412 leaving the version', async () => {
    const created = as<Practitioner>(
      await client.create({ resourceType: 'Practitioner', body: { resourceType: 'Practitioner', name: [{ family: 'Before' }] } }),
    );
    const id = String(created.id);
    const updated = as<Practitioner>(
      await client.update({
        resourceType: 'Practitioner',
        id,
        body: { ...created, name: [{ family: 'After' }] },
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    );
    expect(updated.meta?.versionId).toBe('2');
    const stale = await failure(
      client.update({
        resourceType: 'Practitioner',
        id,
        body: { ...created, name: [{ family: 'Lost' }] },
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    );
    expect(stale.status).toBe(412);
    expect(stale.data.issue[0]?.code).toBe('conflict');
    const read = as<Practitioner>(await client.read({ resourceType: 'Practitioner', id }));
    expect(read.meta?.versionId).toBe('2');
    expect(read.name).toEqual([{ family: 'After' }]);
  });

  it('applies a JSON Patch, and a failing test op is 422 with nothing changed', async () => {
    const created = as<Patient>(await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Patch' }] } }));
    const id = String(created.id);
    const patched = as<Patient>(
      await client.patch({ resourceType: 'Patient', id, JSONPatch: [{ op: 'add', path: '/active', value: true }], options: { headers: { 'If-Match': 'W/"1"' } } }),
    );
    expect(patched.active).toBe(true);
    const failed = await failure(
      client.patch({ resourceType: 'Patient', id, JSONPatch: [{ op: 'test', path: '/active', value: false }, { op: 'remove', path: '/name' }] }),
    );
    expect(failed.status).toBe(422);
    const read = as<Patient>(await client.read({ resourceType: 'Patient', id }));
    expect(read.meta?.versionId).toBe('2');
    expect(read.name).toEqual([{ family: 'Patch' }]);
  });

  it('searches and pages forwards and back with the links the server writes', async () => {
    for (let i = 0; i < 5; i++) {
      await client.create({ resourceType: 'Organization', body: { resourceType: 'Organization', name: `Kit Org ${i}` } });
    }
    const names = (bundle: Bundle): string[] => (bundle.entry ?? []).map((e) => String(as<Organization>(e.resource).name));
    const page1 = as<Bundle>(await client.search({ resourceType: 'Organization', searchParams: { name: 'Kit Org', _sort: 'name', _count: 2 } }));
    expect(page1.total).toBe(5);
    expect(names(page1)).toEqual(['Kit Org 0', 'Kit Org 1']);
    const page2 = as<Bundle>(await client.nextPage({ bundle: as<Parameters<typeof client.nextPage>[0]['bundle']>(page1) }));
    expect(names(page2)).toEqual(['Kit Org 2', 'Kit Org 3']);
    const page3 = as<Bundle>(await client.nextPage({ bundle: as<Parameters<typeof client.nextPage>[0]['bundle']>(page2) }));
    expect(names(page3)).toEqual(['Kit Org 4']);
    expect(await client.nextPage({ bundle: as<Parameters<typeof client.nextPage>[0]['bundle']>(page3) })).toBeUndefined();
    const back = as<Bundle>(await client.prevPage({ bundle: as<Parameters<typeof client.prevPage>[0]['bundle']>(page3) }));
    expect(names(back)).toEqual(['Kit Org 2', 'Kit Org 3']);
  });

  it('searches with POST _search and pages on with GET', async () => {
    const page1 = as<Bundle>(
      await client.search({ resourceType: 'Organization', searchParams: { name: 'Kit Org', _sort: '-name', _count: 3 }, options: POST_SEARCH }),
    );
    expect(page1.total).toBe(5);
    expect((page1.entry ?? []).map((e) => as<Organization>(e.resource).name)).toEqual(['Kit Org 4', 'Kit Org 3', 'Kit Org 2']);
    const page2 = as<Bundle>(await client.nextPage({ bundle: as<Parameters<typeof client.nextPage>[0]['bundle']>(page1) }));
    expect((page2.entry ?? []).map((e) => as<Organization>(e.resource).name)).toEqual(['Kit Org 1', 'Kit Org 0']);
  });

  it('posts a transaction whose references are rewritten', async () => {
    const response = as<Bundle>(
      await client.transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:5b0e3f4a-1d6e-4c1f-8a40-000000000001', resource: { resourceType: 'Organization', name: 'Kit Clinic' }, request: { method: 'POST', url: 'Organization' } },
            {
              resource: { resourceType: 'Practitioner', name: [{ family: 'Kit Doc' }], qualification: [{ code: { text: 'MD' }, issuer: { reference: 'urn:uuid:5b0e3f4a-1d6e-4c1f-8a40-000000000001' } }] },
              request: { method: 'POST', url: 'Practitioner' },
            },
          ],
        },
      }),
    );
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created']);
    const organization = as<Organization>(response.entry?.[0]?.resource);
    const practitioner = as<Practitioner>(response.entry?.[1]?.resource);
    expect(practitioner.qualification?.[0]?.issuer?.reference).toBe(`Organization/${String(organization.id)}`);
  });

  it('gets an OperationOutcome for a read of something unknown', async () => {
    const missing = await failure(client.read({ resourceType: 'Patient', id: 'no-such-patient' }));
    expect(missing.status).toBe(404);
    expect(missing.data.resourceType).toBe('OperationOutcome');
  });
});
