import type { Appointment, AppointmentParticipant, CodeableConcept, HealthcareService, Location, Schedule, Slot } from 'fhir/r4';
import { badRequest } from '../fhir/outcome';
import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';
import { isResourceType } from '../fhir/resource-types';
import { referenceKey } from '../fhir/search-index';
import { parseSearchRequest } from '../fhir/search-request';
import { resolveChains, toStoreQuery } from '../store/query';
import { slotsStartingIn, slotsStartingNear } from '../store/scheduling-queries';
import type { ResourceDocument, Store } from '../store/store';
import { parseBookingPolicy, parseRequiredLocationType, parseServiceDuration } from './availability';
import type { BookingPolicy } from './availability';
import { isActiveStatus } from './lifecycle';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** SPEC §4.6: a $find window spans at most 31 days. */
export const MAX_FIND_SPAN_MS = 31 * DAY;

export interface FindRequest {
  start: number;
  end: number;
  practitioners: readonly string[];
  locations: readonly string[];
  schedules: readonly string[];
  /** Tokens (`system|code` or `code`). */
  specialties: readonly string[];
  visitTypes: readonly string[];
  service?: string;
  durationMinutes?: number;
  /** Token for Location.type. */
  locationType?: string;
  patient?: string;
  count: number;
  offset: number;
}

/**
 * A free Slot as $find works with it: id and times from the document's sort keys (`o.start` and
 * `o.end` are the instants of Slot.start and Slot.end), so ranking every free time of a window needs
 * no resource. The resource is read only for the text of a returned proposal's start and end.
 */
interface FreeSlot {
  id: string;
  start: number;
  end: number;
  document: ResourceDocument;
}

export interface Proposal {
  start: number;
  end: number;
  slots: FreeSlot[];
  actors: string[];
  schedule: Schedule;
  service?: HealthcareService;
}

export interface FindResult {
  total: number;
  proposals: Proposal[];
}

type ScheduleR = StoredFhirResource & Schedule;

function refKey(reference: string | undefined): string | undefined {
  return reference === undefined ? undefined : referenceKey(reference);
}

function typeOf(key: string): string {
  return key.slice(0, key.indexOf('/'));
}

function tokenMatches(concepts: readonly CodeableConcept[] | undefined, token: string): boolean {
  const bar = token.indexOf('|');
  const system = bar < 0 ? undefined : token.slice(0, bar);
  const code = bar < 0 ? token : token.slice(bar + 1);
  return (concepts ?? []).some((c) =>
    (c.coding ?? []).some((cd) => cd.code === code && (system === undefined || (system === '' ? cd.system === undefined : cd.system === system))),
  );
}

/** SPEC §4.3: a Schedule offers a service when a serviceType coding equals one of the service's type codings. */
function offersService(schedule: Schedule, service: HealthcareService): boolean {
  const wanted = (service.type ?? []).flatMap((c) => c.coding ?? []);
  return (schedule.serviceType ?? []).some((c) =>
    (c.coding ?? []).some((cd) => wanted.some((w) => w.system === cd.system && w.code === cd.code)),
  );
}

/** Reads resources through a FHIR search (parsed and translated like any client search). */
async function search<T extends StoredFhirResource>(store: Store, type: ResourceType, params: Array<readonly [string, string]>, now: number): Promise<T[]> {
  const parsed = parseSearchRequest(type, params, { strict: true });
  const request = await resolveChains({ ...parsed, count: 100_000, total: 'none' }, async (t, q) => (await store.find(t, q)).documents.map((d) => d._id), now);
  const { documents } = await store.find(type, toStoreQuery(request, now));
  return documents.flatMap((d) => (d.resource === null ? [] : [d.resource as T]));
}

/**
 * Free Slots of one schedule by start: those overlapping `[lo, hi)` (store/scheduling-queries.ts
 * slotsStartingNear; a room's Slot may start before the proposal it covers), or with `startingIn`
 * only those starting in it (a proposal starts at a Slot's start, at or after `lo`, and runs on
 * through Slots that start where the previous ended: a schedule's own Slots starting before `lo`
 * are never used, and for a one-day window they are half of what the overlap query reads).
 */
async function freeSlots(store: Store, scheduleId: string, lo: number, hi: number, startingIn: boolean): Promise<FreeSlot[]> {
  const schedule = `Schedule/${scheduleId}`;
  const query = startingIn ? slotsStartingIn(schedule, lo, hi, ['free']) : slotsStartingNear([schedule], lo, hi, ['free']);
  const { documents } = await store.find('Slot', query);
  const slots: FreeSlot[] = [];
  for (const document of documents) {
    // Slot.start and Slot.end are required instants, so both sort keys are there.
    const { start, end } = document.o;
    if (typeof start === 'number' && typeof end === 'number' && end > lo) slots.push({ id: document._id, start, end, document });
  }
  return slots;
}

/** Whether a stored actor can be booked (SPEC §4.6: inactive actors offer nothing). */
function isActiveActor(r: StoredFhirResource): boolean {
  if (r.resourceType === 'Location') return (r as Location).status !== 'inactive' && (r as Location).status !== 'suspended';
  return !('active' in r && r.active === false);
}

/** Whether an actor can be booked: unknown ones cannot; memoised per request in `cache`. */
async function actorIsActive(store: Store, key: string, cache: Map<string, boolean>): Promise<boolean> {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const type = typeOf(key);
  let active = true;
  if (isResourceType(type)) {
    const doc = await store.read(type, key.slice(type.length + 1));
    const r = doc?.resource ?? undefined;
    active = r !== undefined && isActiveActor(r);
  }
  cache.set(key, active);
  return active;
}

/** Runs of contiguous free slots, as proposals of `duration` starting at every slot boundary. */
function proposalsOf(
  slots: readonly FreeSlot[],
  durationMs: number | undefined,
  lo: number,
  hi: number,
  lastStart: number,
): Array<{ start: number; end: number; slots: FreeSlot[] }> {
  const out: Array<{ start: number; end: number; slots: FreeSlot[] }> = [];
  for (let i = 0; i < slots.length; i++) {
    const first = slots[i];
    if (first === undefined || first.start < lo || first.start > lastStart) continue;
    const end = first.start + (durationMs ?? first.end - first.start);
    if (end > hi) continue;
    const used: FreeSlot[] = [];
    let covered = first.start;
    for (let j = i; j < slots.length && covered < end; j++) {
      const slot = slots[j];
      if (slot === undefined || slot.start !== covered) break;
      used.push(slot);
      covered = slot.end;
    }
    if (covered >= end) out.push({ start: first.start, end, slots: used });
  }
  return out;
}

/** Free slots of one schedule covering `[start, end)` contiguously, or undefined. */
function coverFrom(slots: readonly FreeSlot[], byStart: ReadonlyMap<number, number>, start: number, end: number): FreeSlot[] | undefined {
  // A room slot may start before the proposal; look for the slot containing `start`.
  let index = byStart.get(start);
  if (index === undefined) {
    index = slots.findIndex((s) => s.start <= start && s.end > start);
    if (index < 0) return undefined;
  }
  const used: FreeSlot[] = [];
  let covered = slots[index]?.start ?? Number.NaN;
  for (let j = index; j < slots.length && covered < end; j++) {
    const slot = slots[j];
    if (slot === undefined) break;
    if (slot.start !== covered) return undefined;
    used.push(slot);
    covered = slot.end;
  }
  return covered >= end ? used : undefined;
}

interface LoadedRoom {
  slots: FreeSlot[];
  byStart: Map<number, number>;
}

interface RoomCandidate {
  location: string;
  schedule: ScheduleR;
  /** Free Slots over the request window, loaded on first use. */
  slots: LoadedRoom | undefined;
}

/**
 * Appointment/$find (SPEC §4.6): proposes times from free Slots, earliest first, honouring the
 * service's duration and room need, inactive schedules and actors, the patient's own bookings and
 * the booking policy. Reads only.
 */
export async function findAppointments(store: Store, request: FindRequest, now: number): Promise<FindResult> {
  if (!(request.start < request.end)) throw badRequest('$find needs start before end', ['Parameters.parameter'], 'value');
  if (request.end - request.start > MAX_FIND_SPAN_MS) throw badRequest('$find spans at most 31 days', ['Parameters.parameter'], 'too-costly');
  let service: (StoredFhirResource & HealthcareService) | undefined;
  if (request.service !== undefined) {
    const key = refKey(request.service);
    if (key === undefined || typeOf(key) !== 'HealthcareService') throw badRequest('service must reference a HealthcareService', undefined, 'value');
    const doc = await store.read('HealthcareService', key.slice('HealthcareService/'.length));
    if (doc?.resource === undefined || doc.resource === null) throw badRequest(`${key} is not known`, undefined, 'value');
    service = doc.resource as StoredFhirResource & HealthcareService;
    if (service.active === false) return { total: 0, proposals: [] };
  }
  const durationMinutes = request.durationMinutes ?? (service === undefined ? undefined : parseServiceDuration(service));
  const durationMs = durationMinutes === undefined ? undefined : durationMinutes * MINUTE;
  const roomType = request.locationType ?? (() => {
    const c = service === undefined ? undefined : parseRequiredLocationType(service);
    const coding = c?.coding?.[0];
    return coding?.code === undefined ? undefined : coding.system === undefined ? coding.code : `${coding.system}|${coding.code}`;
  })();

  // Primary schedules: those matching the filters, active, offering the service.
  const params: Array<readonly [string, string]> = [];
  if (request.schedules.length > 0) params.push(['_id', request.schedules.map((s) => refKey(s)?.replace(/^Schedule\//, '') ?? s).join(',')]);
  const actorFilter = [...request.practitioners, ...request.locations].map((r) => refKey(r) ?? r);
  if (actorFilter.length > 0) params.push(['actor', actorFilter.join(',')]);
  if (request.specialties.length > 0) params.push(['specialty', request.specialties.join(',')]);
  if (request.visitTypes.length > 0) params.push(['service-type', request.visitTypes.join(',')]);
  params.push(['active:not', 'false']);
  let schedules = await search<ScheduleR>(store, 'Schedule', params, now);
  if (service !== undefined) schedules = schedules.filter((s) => offersService(s, service));

  const activeCache = new Map<string, boolean>();
  // SPEC §4.2: the notice and the window bound where a booking starts (as the engine checks them);
  // the proposal itself must fit in the requested [start, end).
  const policyWindow = (policy: BookingPolicy | undefined): { lo: number; hi: number; lastStart: number } => ({
    lo: Math.max(request.start, now + (policy?.minNoticeMinutes ?? 0) * MINUTE),
    hi: request.end,
    lastStart: policy?.bookingWindowDays === undefined ? request.end : now + policy.bookingWindowDays * DAY,
  });
  const servicePolicy = service === undefined ? undefined : parseBookingPolicy(service);

  // Rooms of the required type (looked up once per request); each room's free Slots are loaded
  // only when a proposal gets that far down the list — usually the first room has the time.
  let rooms: RoomCandidate[] | undefined;
  const loadRooms = async (type: string): Promise<RoomCandidate[]> => {
    const locations = await search<StoredFhirResource & Location>(store, 'Location', [['type', type]], now);
    const out: RoomCandidate[] = [];
    for (const location of locations) {
      const key = `Location/${location.id}`;
      // Just read: no second read of the same Location for its status.
      const active = activeCache.get(key) ?? isActiveActor(location);
      activeCache.set(key, active);
      if (!active) continue;
      const roomSchedules = await search<ScheduleR>(store, 'Schedule', [['actor', key], ['active:not', 'false']], now);
      for (const schedule of roomSchedules) out.push({ location: key, schedule, slots: undefined });
    }
    return out;
  };
  const roomSlots = async (room: RoomCandidate): Promise<LoadedRoom> => {
    if (room.slots === undefined) {
      const slots = await freeSlots(store, room.schedule.id, request.start, request.end, false);
      const byStart = new Map<number, number>();
      slots.forEach((s, i) => byStart.set(s.start, i));
      room.slots = { slots, byStart };
    }
    return room.slots;
  };

  // Times the patient is already booked (SPEC §4.6 patient-reference).
  const patientBusy: Array<{ start: number; end: number }> = [];
  if (request.patient !== undefined) {
    const key = refKey(request.patient) ?? request.patient;
    const booked = await search<StoredFhirResource & Appointment>(
      store,
      'Appointment',
      [
        ['patient', key],
        ['date', `lt${new Date(request.end).toISOString()}`],
        ['end', `gt${new Date(request.start).toISOString()}`],
      ],
      now,
    );
    for (const a of booked) {
      if (isActiveStatus(a.status) && a.start !== undefined && a.end !== undefined) patientBusy.push({ start: Date.parse(a.start), end: Date.parse(a.end) });
    }
  }

  const proposals: Proposal[] = [];
  for (const schedule of schedules) {
    const actors = schedule.actor.map((a) => refKey(a.reference)).filter((k): k is string => k !== undefined);
    let allActive = true;
    for (const actor of actors) if (!(await actorIsActive(store, actor, activeCache))) allActive = false;
    if (!allActive) continue;
    const window = policyWindow(parseBookingPolicy(schedule) ?? servicePolicy);
    if (!(window.lo < window.hi) || window.lastStart < window.lo) continue;
    const slots = await freeSlots(store, schedule.id, window.lo, window.hi, true);
    // A joint schedule whose own Location has the right type needs no extra room.
    let needsRoom = roomType !== undefined;
    if (roomType !== undefined) {
      for (const actor of actors) {
        if (typeOf(actor) !== 'Location') continue;
        const doc = await store.read('Location', actor.slice('Location/'.length));
        const location = doc?.resource as Location | null | undefined;
        if (location !== null && location !== undefined && tokenMatches(location.type, roomType)) needsRoom = false;
      }
    }
    if (needsRoom && roomType !== undefined) rooms ??= await loadRooms(roomType);
    for (const p of proposalsOf(slots, durationMs, window.lo, window.hi, window.lastStart)) {
      if (patientBusy.some((b) => b.start < p.end && b.end > p.start)) continue;
      const proposal: Proposal = { start: p.start, end: p.end, slots: p.slots, actors: [...actors], schedule, service };
      if (needsRoom) {
        let found = false;
        for (const room of rooms ?? []) {
          if (actors.includes(room.location)) continue;
          const loaded = await roomSlots(room);
          const cover = coverFrom(loaded.slots, loaded.byStart, p.start, p.end);
          if (cover === undefined) continue;
          proposal.slots = [...p.slots, ...cover];
          proposal.actors.push(room.location);
          found = true;
          break;
        }
        if (!found) continue;
      }
      proposals.push(proposal);
    }
  }
  proposals.sort((a, b) => a.start - b.start || (a.schedule.id ?? '').localeCompare(b.schedule.id ?? ''));
  return { total: proposals.length, proposals: proposals.slice(request.offset, request.offset + request.count) };
}

/** The stored Slot behind a free slot (read only for the proposals returned). */
function slotOf(slot: FreeSlot): Slot | undefined {
  const resource = slot.document.resource;
  return resource === null ? undefined : (resource as StoredFhirResource & Slot);
}

/**
 * An instant written with the same UTC offset as the Slots it comes from (generated Slots carry
 * their schedule's local offset), so `start` and `end` of a proposal read alike.
 */
function instantText(instant: number, slots: readonly FreeSlot[]): string {
  for (const s of slots) {
    const text = s.start === instant ? slotOf(s)?.start : s.end === instant ? slotOf(s)?.end : undefined;
    if (text !== undefined) return text;
  }
  const first = slots[0];
  const sample = first === undefined ? undefined : slotOf(first)?.start;
  const zone = sample === undefined ? undefined : /([+-])(\d{2}):(\d{2})$/.exec(sample);
  if (zone === null || zone === undefined) return new Date(instant).toISOString().replace('.000Z', 'Z');
  const offset = (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) * MINUTE;
  return `${new Date(instant + offset).toISOString().slice(0, 19)}${zone[0]}`;
}

/** The proposed Appointment for one proposal (SPEC §4.6 $find output). */
export function proposedAppointment(p: Proposal, patient: string | undefined): Appointment {
  const participant: AppointmentParticipant[] = p.actors.map((a) => ({ actor: { reference: a }, required: 'required', status: 'needs-action' }));
  if (patient !== undefined) participant.push({ actor: { reference: refKey(patient) ?? patient }, required: 'required', status: 'needs-action' });
  const appointment: Appointment = {
    resourceType: 'Appointment',
    status: 'proposed',
    start: instantText(p.start, p.slots),
    end: instantText(p.end, p.slots),
    minutesDuration: Math.round((p.end - p.start) / MINUTE),
    slot: p.slots.map((s) => ({ reference: `Slot/${s.id}` })),
    participant,
  };
  const serviceType = p.service?.type ?? p.schedule.serviceType;
  if (serviceType !== undefined && serviceType.length > 0) appointment.serviceType = serviceType;
  const specialty = p.service?.specialty ?? p.schedule.specialty;
  if (specialty !== undefined && specialty.length > 0) appointment.specialty = specialty;
  return appointment;
}
