import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpServer, withPrototype } from '../../src/http/server';
import { BASE_URL, FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

/*
 * main.ts serves the app through createHttpServer: requests and responses are made with the
 * app's prototypes, so express's per-request Object.setPrototypeOf changes nothing (which, on V8,
 * kept a quarter of each request's allocations alive through a young-generation GC).
 */

let t: TestApp;
let server: Server;
let base: string;
const seen: Array<{ request: boolean; response: boolean }> = [];

beforeAll(async () => {
  t = await startTestApp();
  server = createHttpServer(t.app);
  // Runs before the app's own 'request' listener, so it sees the objects as node:http made them.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ request: Object.getPrototypeOf(req) === t.app.request, response: Object.getPrototypeOf(res) === t.app.response });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.close();
});

describe('the HTTP server main.ts makes', () => {
  test('makes each request and response with the app prototypes, and the app answers through it as usual', async () => {
    seen.length = 0;
    const created = await fetch(`${base}/Practitioner`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({ resourceType: 'Practitioner', name: [{ family: 'Okafor' }] }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect(created.headers.get('location')).toBe(`${BASE_URL}/Practitioner/${id}/_history/1`);
    const read = await fetch(`${base}/Practitioner/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(await read.json()).toMatchObject({ resourceType: 'Practitioner', name: [{ family: 'Okafor' }] });
    const missing = await fetch(`${base}/Practitioner/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    expect(seen).toEqual([
      { request: true, response: true },
      { request: true, response: true },
      { request: true, response: true },
    ]);
  });

  test('keeps many parallel keep-alive requests apart', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `par-${i}`);
    await Promise.all(
      ids.map((id) =>
        fetch(`${base}/Practitioner/${id}`, {
          method: 'PUT',
          headers: { 'content-type': FHIR_JSON },
          body: JSON.stringify({ resourceType: 'Practitioner', id, name: [{ family: id }] }),
        }),
      ),
    );
    const families = await Promise.all(ids.map(async (id) => ((await (await fetch(`${base}/Practitioner/${id}`)).json()) as { name: Array<{ family: string }> }).name[0]?.family));
    expect(families).toEqual(ids);
  });
});

describe('withPrototype', () => {
  function Point(this: { x: number }, x: number): void {
    this.x = x;
  }
  const PointClass = Point as unknown as new (x: number) => { x: number };

  test('runs the base constructor on an object with the given prototype', () => {
    const prototype = { describe(this: { x: number }): string { return `x=${this.x}`; } };
    const Made = withPrototype(PointClass, prototype);
    if (Made === undefined) throw new Error('a function constructor can be applied');
    const made = new Made(3);
    expect(Object.getPrototypeOf(made)).toBe(prototype);
    expect(made.x).toBe(3);
  });

  test('declines a class, which cannot be applied to an object made elsewhere', () => {
    class Box {
      constructor(readonly size: number) {}
    }
    expect(withPrototype(Box, {})).toBeUndefined();
  });
});
