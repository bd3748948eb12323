import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Appointment, AuditEvent, Bundle, Parameters, ParametersParameter, Resource, Slot } from 'fhir/r4';
import { CLINIC, demoClinic } from '../../scripts/demo-clinic';
import { createHttpServer } from '../../src/http/server';
import { BookingEngine } from '../../src/scheduling/booking-engine';
import { startTestApp } from './test-app';
import type { TestApp } from './test-app';

/** Monday 2027-03-01 08:00 in Europe/Athens (UTC+2 until the 28 March switch): the tests' "now". */
export const T0 = Date.parse('2027-03-01T06:00:00Z');
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface HttpResult<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** The whole error body Kairos answers with: exactly one issue of this code mentioning `text`. */
export function outcomeOf(code: string, text: string): unknown {
  return {
    resourceType: 'OperationOutcome',
    issue: [expect.objectContaining({ severity: 'error', code, diagnostics: expect.stringContaining(text) })],
  };
}

export type ParamValue = string | string[] | Resource | undefined;

/** A Parameters body: strings as valueString (references as valueReference), resources as `resource`. */
export function parameters(values: Record<string, ParamValue>): Parameters {
  const parameter: ParametersParameter[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (typeof value === 'object' && !Array.isArray(value)) {
      parameter.push({ name, resource: value });
      continue;
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      parameter.push(name.endsWith('reference') || name === 'service' || name === 'practitioner' || name === 'schedule' ? { name, valueReference: { reference: v } } : { name, valueString: v });
    }
  }
  return { resourceType: 'Parameters', parameter };
}

/**
 * The real app listening on a real port (so parallel requests are real, concurrent HTTP), on a
 * temporary embedded store, with an injected clock the test moves.
 */
export class Harness {
  private constructor(
    readonly t: TestApp,
    readonly server: Server,
    readonly base: string,
    readonly clock: { now: number },
  ) {}

  static async start(env: Record<string, string> = {}, now: number = T0): Promise<Harness> {
    const clock = { now };
    const t = await startTestApp(
      // Booking races fire dozens of operations at once from one address: lift the abuse limit.
      { SLOT_HORIZON_DAYS: '14', RATE_LIMIT_BOOKINGS_PER_MINUTE: '1000000', ...env },
      { now: () => clock.now },
    );
    const server = await new Promise<Server>((resolve) => {
      // The server main.ts makes (src/http/server.ts), so the real-socket tests run through it.
      const s = createHttpServer(t.app).listen(0, '127.0.0.1', () => resolve(s));
    });
    const port = (server.address() as AddressInfo).port;
    return new Harness(t, server, `http://127.0.0.1:${port}/fhir`, clock);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.t.close();
  }

  /** An engine on the same store and clock (for `expireHolds`, which the app runs as a job). */
  engine(): BookingEngine {
    return new BookingEngine({ store: this.t.store, now: () => this.clock.now, holdTtlSeconds: this.t.config.holdTtlSeconds });
  }

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
    const init: RequestInit = { method, headers: { Accept: 'application/fhir+json', ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': method === 'PATCH' ? 'application/json-patch+json' : 'application/fhir+json', ...init.headers };
    }
    const res = await fetch(`${this.base}/${path.replace(/^\//, '')}`, init);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text === '' ? {} : JSON.parse(text)) as T };
  }

  get<T = Record<string, unknown>>(path: string): Promise<HttpResult<T>> {
    return this.call<T>('GET', path);
  }

  post<T = Record<string, unknown>>(path: string, body: unknown, headers?: Record<string, string>): Promise<HttpResult<T>> {
    return this.call<T>('POST', path, body, headers);
  }

  put<T = Record<string, unknown>>(path: string, body: unknown, headers?: Record<string, string>): Promise<HttpResult<T>> {
    return this.call<T>('PUT', path, body, headers);
  }

  /** PUTs every resource at its id (update-as-create); fails the test on any non-2xx. */
  async load(resources: ReadonlyArray<Resource & { id: string }>): Promise<void> {
    for (const r of resources) {
      const res = await this.put(`${r.resourceType}/${r.id}`, r);
      if (res.status !== 200 && res.status !== 201) throw new Error(`loading ${r.resourceType}/${r.id}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  }

  /** `$find` by POST; returns the proposals and total. */
  async find(values: Record<string, ParamValue>): Promise<{ status: number; total: number; proposals: Appointment[]; body: Record<string, unknown> }> {
    const res = await this.post<Bundle>('Appointment/$find', parameters(values));
    const proposals = (res.body.entry ?? []).map((e) => e.resource as Appointment);
    return { status: res.status, total: res.body.total ?? -1, proposals, body: res.body as unknown as Record<string, unknown> };
  }

  async findOne(values: Record<string, ParamValue>): Promise<Appointment> {
    const { status, proposals, body } = await this.find({ _count: '1', ...values });
    const first = proposals[0];
    if (status !== 200 || first === undefined) throw new Error(`$find proposed nothing: ${status} ${JSON.stringify(body)}`);
    return first;
  }

  book(values: Record<string, ParamValue>, headers?: Record<string, string>): Promise<HttpResult<Appointment & { id: string }>> {
    return this.post<Appointment & { id: string }>('Appointment/$book', parameters(values), headers);
  }

  hold(values: Record<string, ParamValue>, headers?: Record<string, string>): Promise<HttpResult<Appointment & { id: string }>> {
    return this.post<Appointment & { id: string }>('Appointment/$hold', parameters(values), headers);
  }

  async read<T extends Resource>(reference: string): Promise<T> {
    const res = await this.get<T>(reference);
    if (res.status !== 200) throw new Error(`read ${reference}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** Status of each referenced Slot, in order. */
  async slotStatuses(references: ReadonlyArray<string | { reference?: string }>): Promise<string[]> {
    const out: string[] = [];
    for (const r of references) out.push((await this.read<Slot>(typeof r === 'string' ? r : (r.reference ?? ''))).status);
    return out;
  }

  /** Every resource a search returns (one page of up to 1000). */
  async search<T extends Resource>(type: string, query = ''): Promise<T[]> {
    const res = await this.get<Bundle>(`${type}?_count=1000${query === '' ? '' : `&${query}`}`);
    if (res.status !== 200) throw new Error(`search ${type}?${query}: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body.entry ?? []).map((e) => e.resource as T);
  }

  async count(type: string, query = ''): Promise<number> {
    const res = await this.get<Bundle>(`${type}?_count=0&_total=accurate${query === '' ? '' : `&${query}`}`);
    return res.body.total ?? -1;
  }

  auditEvents(entity: string): Promise<AuditEvent[]> {
    return this.search<AuditEvent>('AuditEvent', `entity=${encodeURIComponent(entity)}`);
  }

  /** Slot ids and statuses of a schedule overlapping [lo, hi), earliest first. */
  async slotsOf(scheduleId: string, lo: number, hi: number): Promise<Array<Slot & { id: string }>> {
    const slots = await this.search<Slot & { id: string }>(
      'Slot',
      `schedule=Schedule/${scheduleId}&start=lt${iso(hi)}&end=gt${iso(lo)}&_sort=start`,
    );
    // R4 range semantics: `end=gt{lo}` also matches an end of second precision equal to lo.
    return slots.filter((s) => Date.parse(s.end) > lo && Date.parse(s.start) < hi);
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Every Slot reference of an appointment. */
export function slotRefs(a: Appointment): string[] {
  return (a.slot ?? []).map((s) => s.reference ?? '');
}

export function actorRefs(a: Appointment): string[] {
  return (a.participant ?? []).map((p) => p.actor?.reference ?? '');
}

/** An instant given as Athens local time in March 2027 (UTC+2), e.g. `athens('03-02', '08:00')`. */
export function athens(monthDay: string, time: string): number {
  return Date.parse(`2027-${monthDay}T${time}:00+02:00`);
}

/** The harness with the demo clinic loaded (Slots generated for SLOT_HORIZON_DAYS, 3 by default). */
export async function startClinic(env: Record<string, string> = {}): Promise<Harness> {
  const h = await Harness.start({ SLOT_HORIZON_DAYS: '3', ...env });
  await h.load(demoClinic());
  return h;
}

/** A reference to a resource of the demo clinic. */
export const ref = {
  doctor: (id: keyof typeof CLINIC.doctors): string => `Practitioner/${CLINIC.doctors[id]}`,
  schedule: (id: keyof typeof CLINIC.schedules): string => `Schedule/${CLINIC.schedules[id]}`,
  service: (id: keyof typeof CLINIC.services): string => `HealthcareService/${CLINIC.services[id]}`,
  room: (id: keyof typeof CLINIC.rooms): string => `Location/${CLINIC.rooms[id]}`,
};
