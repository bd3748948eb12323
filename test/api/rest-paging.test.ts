import request from 'supertest';
import type { Response } from 'supertest';
import { BASE_URL, FHIR_JSON, startTestApp } from '../helpers/test-app';
import type { TestApp } from '../helpers/test-app';

let t: TestApp;

const TOTAL = 7;
const created: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  for (let i = 0; i < TOTAL; i++) {
    const res = await request(t.app)
      .post('/fhir/Organization')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Organization', name: `Org ${String(i).padStart(2, '0')}`, active: true }));
    created.push(String(res.body.id));
  }
  // Not a match for the searches below.
  await request(t.app)
    .post('/fhir/Organization')
    .set('Content-Type', FHIR_JSON)
    .send(JSON.stringify({ resourceType: 'Organization', name: 'Inactive', active: false }));
});

afterAll(async () => {
  await t.close();
});

type Links = Partial<Record<'self' | 'first' | 'previous' | 'next' | 'last', string>>;

function links(res: Response): Links {
  const out: Links = {};
  for (const l of res.body.link as Array<{ relation: keyof Links; url: string }>) out[l.relation] = l.url;
  return out;
}

/** Follows a link with GET, as R4 says clients do (links are opaque, absolute URLs). */
function follow(url: string | undefined): Promise<Response> {
  if (url === undefined) throw new Error('missing link');
  expect(url.startsWith(`${BASE_URL}/`)).toBe(true);
  return request(t.app).get(url.slice(BASE_URL.length - '/fhir'.length));
}

function names(res: Response): string[] {
  return ((res.body.entry ?? []) as Array<{ resource: { name: string } }>).map((e) => e.resource.name);
}

describe('paging links', () => {
  it('walk forwards through every page with next, and back with previous', async () => {
    const first = await request(t.app).get('/fhir/Organization?active=true&_sort=name&_count=3');
    expect(first.body.total).toBe(TOTAL);
    expect(names(first)).toEqual(['Org 00', 'Org 01', 'Org 02']);
    const l1 = links(first);
    // R4: no previous on the first page.
    expect(l1.previous).toBeUndefined();
    expect(l1.first).toBeDefined();
    expect(l1.last).toBeDefined();

    const second = await follow(l1.next);
    expect(second.status).toBe(200);
    expect(names(second)).toEqual(['Org 03', 'Org 04', 'Org 05']);
    const third = await follow(links(second).next);
    expect(names(third)).toEqual(['Org 06']);
    // No next on the last page.
    expect(links(third).next).toBeUndefined();
    expect(names(await follow(links(third).previous))).toEqual(['Org 03', 'Org 04', 'Org 05']);
    expect(names(await follow(links(third).first))).toEqual(['Org 00', 'Org 01', 'Org 02']);
    expect(names(await follow(l1.last))).toEqual(['Org 06']);
  });

  it('keep the search parameters, the sort and the page size in every link', async () => {
    const res = await request(t.app).get('/fhir/Organization?active=true&_sort=-name&_count=2');
    const l = links(res);
    for (const url of [l.self, l.first, l.next, l.last]) {
      const query = new URL(String(url)).searchParams;
      expect(query.get('active')).toBe('true');
      expect(query.get('_sort')).toBe('-name');
      expect(query.get('_count')).toBe('2');
    }
    expect(names(await follow(l.next))).toEqual(['Org 04', 'Org 03']);
  });

  it('the union of all pages is every match exactly once', async () => {
    const seen: string[] = [];
    let res = await request(t.app).get('/fhir/Organization?active=true&_count=2');
    for (let guard = 0; guard < 10; guard++) {
      for (const e of res.body.entry as Array<{ resource: { id: string } }>) seen.push(e.resource.id);
      const next = links(res).next;
      if (next === undefined) break;
      res = await follow(next);
    }
    expect(seen.sort()).toEqual([...created].sort());
  });

  it('work with GET after a POST _search (the body parameters move into the links)', async () => {
    const posted = await request(t.app)
      .post('/fhir/Organization/_search')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('active=true&_sort=name&_count=4');
    expect(posted.status).toBe(200);
    expect(names(posted)).toEqual(['Org 00', 'Org 01', 'Org 02', 'Org 03']);
    const l = links(posted);
    expect(new URL(String(l.self)).pathname).toBe('/fhir/Organization');
    const next = await follow(l.next);
    expect(next.status).toBe(200);
    expect(next.body.total).toBe(TOTAL);
    expect(names(next)).toEqual(['Org 04', 'Org 05', 'Org 06']);
  });

  it('a page past the end is empty and links back', async () => {
    const res = await request(t.app).get('/fhir/Organization?active=true&_count=3&_offset=30');
    expect(res.status).toBe(200);
    expect(res.body.entry).toBeUndefined();
    expect(res.body.total).toBe(TOTAL);
    expect(links(res).next).toBeUndefined();
    expect(links(res).previous).toBeDefined();
  });

  it('without a total (_total=none) next is offered while pages are full', async () => {
    const res = await request(t.app).get('/fhir/Organization?active=true&_total=none&_count=7');
    expect(res.body.total).toBeUndefined();
    const next = await follow(links(res).next);
    expect(next.body.entry).toBeUndefined();
    expect(links(next).next).toBeUndefined();
  });
});
