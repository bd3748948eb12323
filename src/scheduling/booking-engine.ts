import type { Appointment, AppointmentParticipant, Extension, Reference, Schedule, Slot } from 'fhir/r4';
import { businessRule, conflict, notFound, unprocessable } from '../fhir/outcome';
import type { StoredFhirResource } from '../fhir/resource-types';
import { referenceKey } from '../fhir/search-index';
import type { Caller } from '../interactions/fhir-request';
import { newId } from '../store/resource-write';
import {
  activeAppointmentsUsingSlots,
  appointmentsWithIdentifier,
  blockingAppointments,
  schedulesWithActors,
  slotsOverlapping,
} from '../store/scheduling-queries';
import type { Store, StoreReader } from '../store/store';
import type { AuditAction } from './audit';
import { auditEvent } from './audit';
import {
  APPOINTMENT_BUFFER_URL,
  appointmentBufferExtension,
  BLOCKED_BY_URL,
  blockedByExtension,
  HOLD_EXPIRES_URL,
  holdExpiresExtension,
  parseAppointmentBuffer,
  parseAvailability,
  parseBlockedBy,
  parseBookingPolicy,
  parseHoldExpires,
} from './availability';
import type { BookingPolicy } from './availability';
import type { AppointmentStatus } from './lifecycle';
import { isActiveStatus, isAllowedTransition } from './lifecycle';
import { WorkingSet } from './working-set';

/** SPEC §4.5: the actor types that cannot be in two overlapping active appointments. */
const EXCLUSIVE_ACTOR_TYPES: ReadonlySet<string> = new Set(['Practitioner', 'PractitionerRole', 'Location', 'Device', 'HealthcareService']);

/** Identifier system under which an `Idempotency-Key` is recorded on the Appointment it produced. */
export const IDEMPOTENCY_SYSTEM = 'https://kairos.dev/fhir/idempotency-key';
export const CANCELATION_REASON_SYSTEM = 'https://kairos.dev/fhir/CodeSystem/cancelation-reason';

const MINUTE = 60_000;

export interface BookingEngineDeps {
  readonly store: Store;
  readonly now: () => number;
  readonly holdTtlSeconds: number;
}

/** Who asks, and with which override (SPEC §4.2: staff/system may override a policy with a reason). */
export interface Actor {
  caller: Caller;
  overrideReason?: string;
}

export interface TakeRequest extends Actor {
  /** The proposed Appointment (e.g. from $find): `slot` references and/or participants + start/end. */
  proposal: Appointment;
  mode: 'hold' | 'book';
  /** Turn this existing Appointment (a hold) into the result, keeping its id. */
  appointmentId?: string;
  patientReferences?: readonly string[];
  comment?: string;
  /** Reschedule through $book: cancel this Appointment in the same atomic step. */
  cancelAppointmentId?: string;
  idempotencyKey?: string;
}

export interface EngineResult {
  appointment: Appointment & { id: string };
  created: boolean;
  versionId: number;
  lastUpdated: number;
}

function refKey(reference: Reference | undefined): string | undefined {
  return reference?.reference === undefined ? undefined : referenceKey(reference.reference);
}

function typeOf(key: string): string {
  return key.slice(0, key.indexOf('/'));
}

function idOf(key: string): string {
  return key.slice(key.indexOf('/') + 1);
}

function instant(value: string | undefined, what: string): number {
  const t = value === undefined ? Number.NaN : Date.parse(value);
  if (Number.isNaN(t)) throw unprocessable(`${what} is missing or not an instant`, [what]);
  return t;
}

/** A Slot with a new status and exactly these `blocked-by` appointments (SPEC §4.5 bookkeeping). */
function withSlotState(slot: StoredFhirResource & Slot, status: Slot['status'], blockedBy: readonly string[]): StoredFhirResource {
  const next: Slot & { id: string } = { ...slot, status };
  const extension = [...withoutExtensions(slot.extension, [BLOCKED_BY_URL]), ...blockedBy.map((reference) => blockedByExtension({ reference }))];
  if (extension.length > 0) next.extension = extension;
  else delete next.extension;
  delete next.meta;
  return next as StoredFhirResource;
}

function withoutExtensions(extensions: Extension[] | undefined, urls: readonly string[]): Extension[] {
  return (extensions ?? []).filter((e) => !urls.includes(e.url));
}

interface ScheduleTerms {
  bufferMinutes: number;
  policy: BookingPolicy | undefined;
}

const TERMS_CACHE_SIZE = 4096;
const SCHEDULE_CACHE_SIZE = 4096;

/** Thrown inside a transaction when it needs lock keys it did not take; the caller retries with them. */
class NeedLocks extends Error {
  constructor(readonly keys: readonly string[]) {
    super('need more lock keys');
  }
}

interface TimeTaken {
  start: number;
  end: number;
  startText: string;
  endText: string;
  slots: Array<StoredFhirResource & Slot>;
  schedules: Array<StoredFhirResource & Schedule>;
  actors: string[];
  buffer: number;
  policy: BookingPolicy | undefined;
}

/**
 * The booking engine (SPEC §4.5). Every change to appointment time — $hold, $book, $reschedule,
 * lifecycle changes and plain REST writes of an Appointment — runs here, in one store transaction
 * locked on the exclusive actors involved. Inside it the engine checks for overlapping active
 * appointments (each extended by its buffer) and flips Slots; the store serialises (embedded) or
 * conflict-checks (MongoDB lock documents) every transaction that shares an actor, so the check and
 * the write cannot be raced.
 */
export class BookingEngine {
  /**
   * Parsed buffer and policy by `id/versionId` of a stored Schedule (a version never changes). Per
   * engine, hence per store: ids and versions are only unique within one store.
   */
  private readonly termsCache = new Map<string, ScheduleTerms>();

  /**
   * Exclusive actors by `Schedule/id` as last read: only the first guess at a booking's lock keys.
   * A stale entry costs nothing but a retry: resolveTime reads the Schedule inside the transaction
   * and asks for any lock it lacks (NeedLocks), and refreshes the entry.
   */
  private readonly scheduleActors = new Map<string, string[]>();

  constructor(private readonly deps: BookingEngineDeps) {}

  /** The buffer (SPEC §4.1) and booking policy (SPEC §4.2) of a Schedule, parsed once per stored version. */
  private scheduleTerms(schedule: Schedule): ScheduleTerms {
    const version = schedule.meta?.versionId;
    const key = version === undefined || schedule.id === undefined ? undefined : `${schedule.id}/${version}`;
    const cached = key === undefined ? undefined : this.termsCache.get(key);
    if (cached !== undefined) return cached;
    const terms: ScheduleTerms = { bufferMinutes: parseAvailability(schedule)?.bufferMinutes ?? 0, policy: parseBookingPolicy(schedule) };
    if (key !== undefined) {
      if (this.termsCache.size >= TERMS_CACHE_SIZE) this.termsCache.clear();
      this.termsCache.set(key, terms);
    }
    return terms;
  }

  /**
   * Runs `body` in a transaction locked on the keys it needs: it starts with `initialKeys`, and if
   * the body finds it touches other actors (NeedLocks) it is run again with those too.
   */
  private async run<T>(initialKeys: readonly string[], body: (ws: WorkingSet, locked: ReadonlySet<string>) => Promise<T>): Promise<T> {
    let keys = new Set(initialKeys);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const locked: ReadonlySet<string> = keys;
        return await this.deps.store.transaction([...locked].sort(), async (reader: StoreReader) => {
          const ws = new WorkingSet(reader, this.deps.now());
          const result = await body(ws, locked);
          return { writes: ws.writes(), result };
        });
      } catch (e) {
        if (!(e instanceof NeedLocks)) throw e;
        keys = new Set([...keys, ...e.keys]);
      }
    }
    throw conflict('The booking could not take its locks; please retry');
  }

  private static requireLocks(locked: ReadonlySet<string>, actors: readonly string[]): void {
    const missing = actors.filter((a) => !locked.has(a));
    if (missing.length > 0) throw new NeedLocks(missing);
  }

  /** Exclusive actor keys named by an Appointment's participants. */
  private static participantActors(appointment: Appointment): string[] {
    const keys: string[] = [];
    for (const p of appointment.participant ?? []) {
      const key = refKey(p.actor);
      if (key !== undefined && EXCLUSIVE_ACTOR_TYPES.has(typeOf(key)) && p.status !== 'declined' && !keys.includes(key)) keys.push(key);
    }
    return keys;
  }

  /** Best-effort lock keys for a proposal, read before the transaction (re-checked inside it). */
  private async guessLocks(proposal: Appointment, extra: readonly string[]): Promise<string[]> {
    const keys = new Set<string>([...BookingEngine.participantActors(proposal), ...extra]);
    for (const ref of proposal.slot ?? []) {
      const slotKey = refKey(ref);
      if (slotKey === undefined || typeOf(slotKey) !== 'Slot') continue;
      const slot = await this.deps.store.read('Slot', idOf(slotKey));
      // The sort key of `schedule` is Slot.schedule's reference key: no need to read the resource.
      const scheduleKey = slot === undefined || slot.deleted ? undefined : slot.o.schedule;
      if (typeof scheduleKey !== 'string') continue;
      let actors = this.scheduleActors.get(scheduleKey);
      if (actors === undefined) {
        const schedule = await this.deps.store.read('Schedule', idOf(scheduleKey));
        actors = BookingEngine.exclusiveActorsOf(schedule?.resource as Schedule | null | undefined);
        this.rememberScheduleActors(scheduleKey, actors);
      }
      for (const actor of actors) keys.add(actor);
    }
    return [...keys];
  }

  private static exclusiveActorsOf(schedule: Schedule | null | undefined): string[] {
    const keys: string[] = [];
    for (const actor of schedule?.actor ?? []) {
      const key = refKey(actor);
      if (key !== undefined && EXCLUSIVE_ACTOR_TYPES.has(typeOf(key))) keys.push(key);
    }
    return keys;
  }

  private rememberScheduleActors(scheduleKey: string, actors: string[]): void {
    if (this.scheduleActors.size >= SCHEDULE_CACHE_SIZE) this.scheduleActors.clear();
    this.scheduleActors.set(scheduleKey, actors);
  }

  private async appointmentLocks(appointmentId: string | undefined): Promise<string[]> {
    if (appointmentId === undefined) return [];
    const doc = await this.deps.store.read('Appointment', appointmentId);
    const appointment = doc?.resource as Appointment | null | undefined;
    return appointment === null || appointment === undefined ? [] : BookingEngine.participantActors(appointment);
  }

  /**
   * Checks a policy (SPEC §4.2). A violation is 422 unless a staff or system caller gives an
   * override reason; returns whether an override was used (to be audited).
   */
  private static checkPolicy(violations: readonly string[], actor: Actor): boolean {
    if (violations.length === 0) return false;
    if (actor.overrideReason !== undefined && actor.overrideReason.trim() !== '' && actor.caller.kind !== 'patient') return true;
    throw businessRule(
      `${violations.join('; ')}${actor.caller.kind === 'patient' ? '' : ' (staff may override with an override-reason)'}`,
    );
  }

  /** Resolves the time, Slots, schedules, actors and buffer a proposal asks for, and checks them. */
  private async resolveTime(
    ws: WorkingSet,
    proposal: Appointment,
    ownIds: readonly string[],
    locked: ReadonlySet<string>,
  ): Promise<TimeTaken> {
    const slots: Array<StoredFhirResource & Slot> = [];
    for (const [i, ref] of (proposal.slot ?? []).entries()) {
      const key = refKey(ref);
      if (key === undefined || typeOf(key) !== 'Slot') throw unprocessable(`Appointment.slot[${i}] must reference a Slot`, [`Appointment.slot[${i}]`]);
      const slot = (await ws.get('Slot', idOf(key))) as (StoredFhirResource & Slot) | undefined;
      if (slot === undefined) throw conflict(`${key} does not exist (any more)`, [`Appointment.slot[${i}]`]);
      if (slots.some((s) => s.id === slot.id)) continue;
      slots.push(slot);
    }
    const schedules: Array<StoredFhirResource & Schedule> = [];
    for (const slot of slots) {
      const key = refKey(slot.schedule);
      if (key === undefined || schedules.some((s) => `Schedule/${s.id}` === key)) continue;
      const schedule = (await ws.get('Schedule', idOf(key))) as (StoredFhirResource & Schedule) | undefined;
      if (schedule === undefined) throw conflict(`${key} of Slot/${slot.id} does not exist`);
      if (schedule.active === false) throw conflict(`${key} is not active: its Slots cannot be booked`);
      this.rememberScheduleActors(key, BookingEngine.exclusiveActorsOf(schedule));
      schedules.push(schedule);
    }
    let start: number;
    let end: number;
    let startText: string;
    let endText: string;
    if (proposal.start !== undefined || proposal.end !== undefined) {
      start = instant(proposal.start, 'Appointment.start');
      end = instant(proposal.end, 'Appointment.end');
      startText = proposal.start ?? '';
      endText = proposal.end ?? '';
    } else if (slots.length > 0) {
      const first = slots.reduce((a, b) => (Date.parse(a.start) <= Date.parse(b.start) ? a : b));
      const last = slots.reduce((a, b) => (Date.parse(a.end) >= Date.parse(b.end) ? a : b));
      start = Date.parse(first.start);
      end = Date.parse(last.end);
      startText = first.start;
      endText = last.end;
    } else {
      throw unprocessable('An Appointment that takes time needs start and end, or slot references', ['Appointment.start']);
    }
    if (!(start < end)) throw unprocessable('Appointment.start must be before Appointment.end', ['Appointment.end']);
    for (const slot of slots) {
      const s = Date.parse(slot.start);
      const e = Date.parse(slot.end);
      if (!(s < end && e > start)) throw unprocessable(`Slot/${slot.id} lies outside the appointment's time`, ['Appointment.slot']);
    }
    const actors = BookingEngine.participantActors(proposal);
    for (const schedule of schedules) {
      for (const actor of schedule.actor) {
        const key = refKey(actor);
        if (key !== undefined && EXCLUSIVE_ACTOR_TYPES.has(typeOf(key)) && !actors.includes(key)) actors.push(key);
      }
    }
    BookingEngine.requireLocks(locked, actors);
    let buffer = 0;
    let policy: BookingPolicy | undefined;
    for (const schedule of schedules) {
      const terms = this.scheduleTerms(schedule);
      buffer = Math.max(buffer, terms.bufferMinutes);
      policy ??= terms.policy;
    }
    if (schedules.length === 0) buffer = parseAppointmentBuffer(proposal) ?? 0;
    // Every covered Slot must be free, or made busy only by the appointments being replaced (a Slot
    // a client marked busy by hand, with no appointment behind it, is not ours to take).
    const ownRefs = ownIds.map((id) => `Appointment/${id}`);
    const ownSlots = new Set<string>();
    for (const id of ownIds) {
      const own = (await ws.get('Appointment', id)) as Appointment | undefined;
      if (own !== undefined && isActiveStatus(own.status)) for (const r of own.slot ?? []) ownSlots.add(refKey(r) ?? '');
    }
    for (const slot of slots) {
      if (slot.status === 'free') continue;
      const users = ((await ws.find('Appointment', activeAppointmentsUsingSlots([`Slot/${slot.id}`], ownIds))) as Appointment[]).filter((a) =>
        isActiveStatus(a.status),
      );
      const blockedBy = parseBlockedBy(slot);
      const mine =
        (slot.status === 'busy' || slot.status === 'busy-tentative') &&
        users.length === 0 &&
        blockedBy.every((r) => ownRefs.includes(r)) &&
        (ownSlots.has(`Slot/${slot.id}`) || blockedBy.length > 0);
      if (!mine) throw conflict(`Slot/${slot.id} is not free (status ${slot.status})`, ['Appointment.slot']);
    }
    // The invariant: no exclusive actor in two overlapping active appointments (SPEC §4.5).
    if (actors.length > 0) {
      const blocking = await ws.find('Appointment', blockingAppointments(actors, start, end + buffer * MINUTE, ownIds));
      for (const other of blocking as Appointment[]) {
        if (!isActiveStatus(other.status)) continue;
        const shared = BookingEngine.participantActors(other).filter((a) => actors.includes(a));
        throw conflict(
          `${shared[0] ?? 'An actor'} is already booked from ${other.start ?? '?'} to ${other.end ?? '?'} (Appointment/${other.id ?? '?'})`,
          ['Appointment.participant'],
        );
      }
    }
    return { start, end, startText, endText, slots, schedules, actors, buffer, policy };
  }

  /** SPEC §4.2 minimum notice and booking window, for a new time. */
  private bookingPolicyViolations(time: TimeTaken, now: number): string[] {
    const policy = time.policy;
    if (policy === undefined) return [];
    const violations: string[] = [];
    if (time.start < now + policy.minNoticeMinutes * MINUTE) {
      violations.push(`Bookings must start at least ${policy.minNoticeMinutes} minutes ahead (minNoticeMinutes)`);
    }
    if (policy.bookingWindowDays !== undefined && time.start > now + policy.bookingWindowDays * 86_400_000) {
      violations.push(`Bookings may start at most ${policy.bookingWindowDays} days ahead (bookingWindowDays)`);
    }
    return violations;
  }

  /** Marks the Slots covered by an appointment and every overlapping free Slot of its actors (SPEC §4.5). */
  private async occupy(ws: WorkingSet, appointmentId: string, time: TimeTaken, status: AppointmentStatus): Promise<void> {
    const coveredStatus: Slot['status'] = status === 'pending' ? 'busy-tentative' : 'busy';
    const covered = new Set(time.slots.map((s) => s.id));
    for (const slot of time.slots) ws.put('Slot', slot.id, withSlotState(slot, coveredStatus, []), 'PUT');
    if (time.actors.length === 0) return;
    const schedules = await ws.findIds('Schedule', schedulesWithActors(time.actors));
    if (schedules.length === 0) return;
    const blockedUntil = time.end + time.buffer * MINUTE;
    const candidates = (await ws.find(
      'Slot',
      slotsOverlapping(
        schedules.map((id) => `Schedule/${id}`),
        time.start,
        blockedUntil,
      ),
    )) as Array<StoredFhirResource & Slot>;
    const ref: Reference = { reference: `Appointment/${appointmentId}` };
    for (const slot of candidates) {
      if (covered.has(slot.id) || slot.status !== 'free') continue;
      ws.put('Slot', slot.id, withSlotState(slot, 'busy', [ref.reference ?? '']), 'PUT');
    }
  }

  /**
   * Frees what an appointment held (SPEC §4.5): its Slots and the Slots it blocked turn `free`
   * again unless another active appointment still covers or blocks them.
   */
  private async release(ws: WorkingSet, appointment: Appointment & { id: string }, excludeIds: readonly string[]): Promise<void> {
    const own = `Appointment/${appointment.id}`;
    const exclude = [...new Set([appointment.id, ...excludeIds])];
    const affected = new Map<string, StoredFhirResource & Slot>();
    for (const ref of appointment.slot ?? []) {
      const key = refKey(ref);
      if (key === undefined || typeOf(key) !== 'Slot') continue;
      const slot = (await ws.get('Slot', idOf(key))) as (StoredFhirResource & Slot) | undefined;
      if (slot !== undefined) affected.set(slot.id, slot);
    }
    const actors = BookingEngine.participantActors(appointment);
    if (actors.length > 0 && appointment.start !== undefined && appointment.end !== undefined) {
      const schedules = await ws.findIds('Schedule', schedulesWithActors(actors));
      if (schedules.length > 0) {
        const buffer = parseAppointmentBuffer(appointment) ?? 0;
        const candidates = (await ws.find(
          'Slot',
          slotsOverlapping(
            schedules.map((id) => `Schedule/${id}`),
            Date.parse(appointment.start),
            Date.parse(appointment.end) + buffer * MINUTE,
          ),
        )) as Array<StoredFhirResource & Slot>;
        for (const slot of candidates) if (parseBlockedBy(slot).includes(own)) affected.set(slot.id, slot);
      }
    }
    for (const slot of affected.values()) {
      if (slot.status !== 'busy' && slot.status !== 'busy-tentative') continue;
      const users = (await ws.find('Appointment', activeAppointmentsUsingSlots([`Slot/${slot.id}`], exclude))) as Appointment[];
      const stillUsed = users.find((a) => isActiveStatus(a.status));
      if (stillUsed !== undefined) {
        ws.put('Slot', slot.id, withSlotState(slot, stillUsed.status === 'pending' ? 'busy-tentative' : 'busy', []), 'PUT');
        continue;
      }
      const schedule = refKey(slot.schedule);
      const scheduleResource = schedule === undefined ? undefined : ((await ws.get('Schedule', idOf(schedule))) as Schedule | undefined);
      const slotActors = (scheduleResource?.actor ?? [])
        .map((a) => refKey(a))
        .filter((k): k is string => k !== undefined && EXCLUSIVE_ACTOR_TYPES.has(typeOf(k)));
      const blockers =
        slotActors.length === 0
          ? []
          : ((await ws.find('Appointment', blockingAppointments(slotActors, Date.parse(slot.start), Date.parse(slot.end), exclude))) as Array<
              Appointment & { id: string }
            >).filter((a) => isActiveStatus(a.status));
      const next = blockers.length > 0 ? withSlotState(slot, 'busy', blockers.map((b) => `Appointment/${b.id}`)) : withSlotState(slot, 'free', []);
      ws.put('Slot', slot.id, next, 'PUT');
    }
  }

  /**
   * The participants of a REST-written appointment plus every exclusive actor of its Slots'
   * schedules: the actor index (`_block`) is built from participants, so an actor left out would
   * not be seen as busy by the next booking.
   */
  private static withScheduleActors(incoming: Appointment, time: TimeTaken): AppointmentParticipant[] {
    const participants = [...(incoming.participant ?? [])];
    const named = new Set(participants.map((p) => refKey(p.actor)));
    const status: AppointmentParticipant['status'] = incoming.status === 'pending' ? 'needs-action' : 'accepted';
    for (const actor of time.actors) {
      if (!named.has(actor)) participants.push({ actor: { reference: actor }, required: 'required', status });
    }
    return participants;
  }

  private static participantsFor(proposal: Appointment, time: TimeTaken, patients: readonly string[], status: AppointmentStatus): AppointmentParticipant[] {
    const participantStatus: AppointmentParticipant['status'] = status === 'booked' ? 'accepted' : 'needs-action';
    const participants: AppointmentParticipant[] = [];
    const seen = new Set<string>();
    for (const p of proposal.participant ?? []) {
      const key = refKey(p.actor);
      if (key !== undefined) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      const isPatient = key !== undefined && typeOf(key) === 'Patient';
      participants.push({ ...p, status: isPatient || p.status === 'declined' ? p.status : participantStatus });
    }
    for (const actor of time.actors) {
      if (seen.has(actor)) continue;
      seen.add(actor);
      participants.push({ actor: { reference: actor }, required: 'required', status: participantStatus });
    }
    for (const patient of patients) {
      const key = referenceKey(patient);
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      participants.push({ actor: { reference: key }, required: 'required', status: 'accepted' });
    }
    return participants;
  }

  private async findByIdempotencyKey(reader: StoreReader | Store, key: string): Promise<(Appointment & { id: string }) | undefined> {
    const { documents } = await reader.find('Appointment', appointmentsWithIdentifier(`${IDEMPOTENCY_SYSTEM}|${key}`));
    const resource = documents[0]?.resource;
    return resource === undefined || resource === null ? undefined : (resource as Appointment & { id: string });
  }

  private async resultOf(appointmentId: string, created: boolean): Promise<EngineResult> {
    const doc = await this.deps.store.read('Appointment', appointmentId);
    if (doc?.resource === undefined || doc.resource === null) throw notFound(`Appointment/${appointmentId} is not known`);
    return { appointment: doc.resource as Appointment & { id: string }, created, versionId: doc.versionId, lastUpdated: doc.lastUpdated };
  }

  /** $hold and $book (SPEC §4.6): takes the proposal's time atomically, or fails with 409/422 writing nothing. */
  async take(request: TakeRequest): Promise<EngineResult> {
    const key = request.idempotencyKey;
    if (key !== undefined) {
      const previous = await this.findByIdempotencyKey(this.deps.store, key);
      if (previous !== undefined) return this.resultOf(previous.id, false);
    }
    const initial = [
      ...(await this.guessLocks(request.proposal, [])),
      ...(await this.appointmentLocks(request.appointmentId)),
      ...(await this.appointmentLocks(request.cancelAppointmentId)),
      ...(key === undefined ? [] : [`Idempotency-Key/${key}`]),
    ];
    const outcome = await this.run(initial, async (ws, locked) => {
      const now = this.deps.now();
      if (key !== undefined) {
        const { documents } = await ws
          .find('Appointment', appointmentsWithIdentifier(`${IDEMPOTENCY_SYSTEM}|${key}`))
          .then((r) => ({ documents: r }));
        const first = documents[0];
        if (first !== undefined) return { id: first.id, created: false };
      }
      const ownIds: string[] = [];
      let existing: (Appointment & { id: string }) | undefined;
      if (request.appointmentId !== undefined) {
        existing = (await ws.get('Appointment', request.appointmentId)) as (Appointment & { id: string }) | undefined;
        if (existing === undefined) throw notFound(`Appointment/${request.appointmentId} is not known`);
        if (existing.status !== 'pending' && existing.status !== 'proposed') {
          throw businessRule(`Appointment/${existing.id} is ${existing.status}; only a held (pending) or proposed appointment can be booked`);
        }
        const expires = existing.extension?.find((e) => e.url === HOLD_EXPIRES_URL)?.valueInstant;
        if (existing.status === 'pending' && expires !== undefined && Date.parse(expires) <= now) {
          throw conflict(`The hold on Appointment/${existing.id} expired at ${expires}`);
        }
        ownIds.push(existing.id);
      }
      let overrideUsed = false;
      if (request.cancelAppointmentId !== undefined) {
        const old = (await ws.get('Appointment', request.cancelAppointmentId)) as (Appointment & { id: string }) | undefined;
        if (old === undefined) throw notFound(`Appointment/${request.cancelAppointmentId} is not known`);
        if (!isActiveStatus(old.status)) throw businessRule(`Appointment/${old.id} is ${old.status} and cannot be rescheduled`);
        overrideUsed = (await this.cancelNoticeCheck(ws, old, now, request)) || overrideUsed;
        ownIds.push(old.id);
      }
      const proposal: Appointment = existing !== undefined && (request.proposal.slot === undefined || request.proposal.slot.length === 0)
        ? { ...existing, ...request.proposal, slot: existing.slot, start: existing.start, end: existing.end }
        : request.proposal;
      const time = await this.resolveTime(ws, proposal, ownIds, locked);
      // A live hold already passed the policy when it was taken: confirming it within its TTL keeps
      // the time it reserved (else a hold taken at exactly the minimum notice could never be booked).
      const confirmsHold =
        existing !== undefined && existing.status === 'pending' && parseHoldExpires(existing) !== undefined && sameTime(existing, proposal);
      if (!confirmsHold) overrideUsed = BookingEngine.checkPolicy(this.bookingPolicyViolations(time, now), request) || overrideUsed;
      if (request.cancelAppointmentId !== undefined) {
        const old = (await ws.get('Appointment', request.cancelAppointmentId)) as Appointment & { id: string };
        ws.put('Appointment', old.id, { ...old, status: 'cancelled', cancelationReason: { text: 'rescheduled' } } as StoredFhirResource, 'PUT');
        await this.release(ws, old, ownIds);
      }
      if (existing !== undefined) await this.release(ws, existing, ownIds);
      const status: AppointmentStatus = request.mode === 'hold' ? 'pending' : time.policy?.autoConfirm === false ? 'pending' : 'booked';
      const id = existing?.id ?? newId();
      const patients = request.patientReferences ?? [];
      const extension = withoutExtensions(proposal.extension, [HOLD_EXPIRES_URL, APPOINTMENT_BUFFER_URL]);
      if (time.buffer > 0) extension.push(appointmentBufferExtension(time.buffer));
      if (request.mode === 'hold') {
        extension.push(holdExpiresExtension(new Date(now + this.deps.holdTtlSeconds * 1000).toISOString()));
      }
      const identifier = [...(proposal.identifier ?? [])];
      if (key !== undefined) identifier.push({ system: IDEMPOTENCY_SYSTEM, value: key });
      const appointment: Appointment = {
        ...proposal,
        resourceType: 'Appointment',
        id,
        status,
        start: time.startText,
        end: time.endText,
        minutesDuration: Math.round((time.end - time.start) / MINUTE),
        participant: BookingEngine.participantsFor(proposal, time, patients, status),
        created: existing?.created ?? proposal.created ?? new Date(now).toISOString(),
      };
      delete appointment.meta;
      if (time.slots.length > 0) appointment.slot = time.slots.map((s) => ({ reference: `Slot/${s.id}` }));
      else delete appointment.slot;
      if (extension.length > 0) appointment.extension = extension;
      else delete appointment.extension;
      if (identifier.length > 0) appointment.identifier = identifier;
      if (request.comment !== undefined) appointment.comment = request.comment;
      ws.put('Appointment', id, appointment as StoredFhirResource, 'PUT');
      await this.occupy(ws, id, time, status);
      const action: AuditAction = request.cancelAppointmentId !== undefined ? 'reschedule' : request.mode;
      this.audit(ws, action, request, [`Appointment/${id}`, ...(request.cancelAppointmentId === undefined ? [] : [`Appointment/${request.cancelAppointmentId}`])], overrideUsed, now);
      return { id, created: existing === undefined };
    });
    return this.resultOf(outcome.id, outcome.created);
  }

  private audit(ws: WorkingSet, action: AuditAction, actor: Actor, entities: readonly string[], overrideUsed: boolean, now: number): void {
    // auditEvent, not auditWrite: the working set builds the version (and its search index) once, at commit.
    const id = newId();
    const event = auditEvent({
      action: overrideUsed ? 'override' : action,
      agent: actor.caller.subject,
      entities,
      outcome: 'success',
      overrideReason: overrideUsed ? actor.overrideReason : undefined,
      description: overrideUsed ? `${action} with a policy override` : undefined,
      now,
    });
    ws.put('AuditEvent', id, { ...event, id } as StoredFhirResource, 'POST');
  }

  /** SPEC §4.2 cancelNoticeMinutes: returns whether an override was used. */
  private async cancelNoticeCheck(ws: WorkingSet, appointment: Appointment, now: number, actor: Actor): Promise<boolean> {
    if (appointment.start === undefined) return false;
    let policy: BookingPolicy | undefined;
    for (const ref of appointment.slot ?? []) {
      const slotKey = refKey(ref);
      if (slotKey === undefined) continue;
      const slot = (await ws.get('Slot', idOf(slotKey))) as Slot | undefined;
      const scheduleKey = refKey(slot?.schedule);
      if (scheduleKey === undefined) continue;
      const schedule = (await ws.get('Schedule', idOf(scheduleKey))) as Schedule | undefined;
      policy = schedule === undefined ? undefined : this.scheduleTerms(schedule).policy;
      if (policy !== undefined) break;
    }
    if (policy === undefined || policy.cancelNoticeMinutes === 0) return false;
    const start = Date.parse(appointment.start);
    const violations = start - now < policy.cancelNoticeMinutes * MINUTE ? [`Cancellations must come at least ${policy.cancelNoticeMinutes} minutes before the start (cancelNoticeMinutes)`] : [];
    return BookingEngine.checkPolicy(violations, actor);
  }

  /**
   * $reschedule (SPEC §4.6): moves an appointment to the proposal's time, keeping its id; the new
   * time is taken and the old released in one transaction, or nothing changes.
   */
  async reschedule(appointmentId: string, proposal: Appointment, actor: Actor & { idempotencyKey?: string }): Promise<EngineResult> {
    const key = actor.idempotencyKey;
    if (key !== undefined) {
      const previous = await this.findByIdempotencyKey(this.deps.store, key);
      if (previous !== undefined) return this.resultOf(previous.id, false);
    }
    const initial = [...(await this.guessLocks(proposal, [])), ...(await this.appointmentLocks(appointmentId)), ...(key === undefined ? [] : [`Idempotency-Key/${key}`])];
    await this.run(initial, async (ws, locked) => {
      const now = this.deps.now();
      const current = (await ws.get('Appointment', appointmentId)) as (Appointment & { id: string }) | undefined;
      if (current === undefined) throw notFound(`Appointment/${appointmentId} is not known`);
      if (!isActiveStatus(current.status)) throw businessRule(`Appointment/${appointmentId} is ${current.status} and cannot be rescheduled`);
      let overrideUsed = await this.cancelNoticeCheck(ws, current, now, actor);
      const proposedActors = BookingEngine.participantActors(proposal);
      const merged: Appointment = {
        ...current,
        start: proposal.start,
        end: proposal.end,
        slot: proposal.slot ?? (await this.slotsAt(ws, current, proposal)),
        // Without new actors the appointment keeps its own; with them, they replace the old ones.
        participant:
          proposedActors.length === 0
            ? current.participant
            : [
                ...(current.participant ?? []).filter((p) => {
                  const k = refKey(p.actor);
                  return k === undefined || !EXCLUSIVE_ACTOR_TYPES.has(typeOf(k));
                }),
                ...(proposal.participant ?? []),
              ],
      };
      if (merged.start === undefined) delete merged.start;
      if (merged.end === undefined) delete merged.end;
      if (merged.slot === undefined) delete merged.slot;
      const time = await this.resolveTime(ws, merged, [appointmentId], locked);
      overrideUsed = BookingEngine.checkPolicy(this.bookingPolicyViolations(time, now), actor) || overrideUsed;
      await this.release(ws, current, [appointmentId]);
      const extension = withoutExtensions(current.extension, [APPOINTMENT_BUFFER_URL]);
      if (time.buffer > 0) extension.push(appointmentBufferExtension(time.buffer));
      const identifier = [...(current.identifier ?? [])];
      if (key !== undefined) identifier.push({ system: IDEMPOTENCY_SYSTEM, value: key });
      const moved: Appointment = {
        ...merged,
        start: time.startText,
        end: time.endText,
        minutesDuration: Math.round((time.end - time.start) / MINUTE),
        participant: BookingEngine.participantsFor(merged, time, [], current.status),
      };
      delete moved.meta;
      if (time.slots.length > 0) moved.slot = time.slots.map((s) => ({ reference: `Slot/${s.id}` }));
      else delete moved.slot;
      if (extension.length > 0) moved.extension = extension;
      else delete moved.extension;
      if (identifier.length > 0) moved.identifier = identifier;
      ws.put('Appointment', appointmentId, moved as StoredFhirResource, 'PUT');
      await this.occupy(ws, appointmentId, time, current.status);
      this.audit(ws, 'reschedule', actor, [`Appointment/${appointmentId}`], overrideUsed, now);
      return undefined;
    });
    return this.resultOf(appointmentId, false);
  }

  /**
   * For a reschedule given only a new start/end: the Slots of the appointment's own schedules that
   * cover the new time (free, or its own). Undefined when it had no Slots; 409 when they do not cover it.
   */
  private async slotsAt(ws: WorkingSet, current: Appointment & { id: string }, proposal: Appointment): Promise<Appointment['slot']> {
    if ((current.slot ?? []).length === 0 || proposal.start === undefined || proposal.end === undefined) return undefined;
    const start = instant(proposal.start, 'start');
    const end = instant(proposal.end, 'end');
    const schedules = new Set<string>();
    for (const ref of current.slot ?? []) {
      const key = refKey(ref);
      if (key === undefined) continue;
      const slot = (await ws.get('Slot', idOf(key))) as Slot | undefined;
      const schedule = refKey(slot?.schedule);
      if (schedule !== undefined) schedules.add(schedule);
    }
    const own = new Set((current.slot ?? []).map((r) => refKey(r)));
    const refs: Reference[] = [];
    for (const schedule of schedules) {
      const slots = ((await ws.find('Slot', slotsOverlapping([schedule], start, end))) as Array<StoredFhirResource & Slot>).filter(
        (s) => s.status === 'free' || own.has(`Slot/${s.id}`),
      );
      let covered = start;
      for (const slot of slots.sort((a, b) => Date.parse(a.start) - Date.parse(b.start))) {
        if (Date.parse(slot.start) > covered) break;
        refs.push({ reference: `Slot/${slot.id}` });
        covered = Math.max(covered, Date.parse(slot.end));
      }
      if (covered < end) throw conflict(`${schedule} has no free Slots covering ${proposal.start} to ${proposal.end}`, ['Appointment.start']);
    }
    return refs;
  }

  /** DELETE of an Appointment: its time is released first, then it is deleted (tombstone). */
  async remove(id: string, actor: Actor, check: (current: StoredFhirResource | undefined) => void): Promise<boolean> {
    return this.run(await this.appointmentLocks(id), async (ws) => {
      const now = this.deps.now();
      const current = (await ws.get('Appointment', id)) as (Appointment & { id: string }) | undefined;
      if (current === undefined) return false;
      check(current as StoredFhirResource);
      if (isActiveStatus(current.status)) await this.release(ws, current, [id]);
      ws.put('Appointment', id, null, 'DELETE');
      this.audit(ws, 'status-change', actor, [`Appointment/${id}`], false, now);
      return true;
    });
  }

  /**
   * A plain REST create/update/patch of an Appointment (SPEC §4.5: no way around the engine): the
   * lifecycle transition is checked (SPEC §4.7), time it newly takes goes through the invariant,
   * time it gives up is released. `incoming` has been validated; `ifMatch` is checked by `check`.
   */
  async write(
    id: string,
    incoming: Appointment & { id: string },
    actor: Actor,
    check: (current: StoredFhirResource | undefined) => void,
  ): Promise<EngineResult> {
    const initial = [...BookingEngine.participantActors(incoming), ...(await this.guessLocks(incoming, [])), ...(await this.appointmentLocks(id))];
    const outcome = await this.run(initial, async (ws, locked) => {
      const now = this.deps.now();
      const current = (await ws.get('Appointment', id)) as (Appointment & { id: string }) | undefined;
      check(current as StoredFhirResource | undefined);
      if (current !== undefined && !isAllowedTransition(current.status, incoming.status)) {
        throw businessRule(`An Appointment cannot go from ${current.status} to ${incoming.status}`, ['Appointment.status']);
      }
      let overrideUsed = false;
      const wasActive = current !== undefined && isActiveStatus(current.status);
      const willBeActive = isActiveStatus(incoming.status) && (incoming.start !== undefined || (incoming.slot ?? []).length > 0);
      if (wasActive && incoming.status === 'cancelled' && current !== undefined) {
        overrideUsed = await this.cancelNoticeCheck(ws, current, now, actor);
      }
      let stored: Appointment = { ...incoming };
      // SPEC §4.5 frees time on cancel, no-show and entered-in-error; a fulfilled appointment used
      // its time, so its Slots stay busy.
      const keepsSlots = incoming.status === 'fulfilled';
      if (wasActive && current !== undefined && !keepsSlots && !(willBeActive && sameTime(current, incoming))) {
        await this.release(ws, current, [id]);
      }
      if (willBeActive) {
        const time = await this.resolveTime(ws, incoming, [id], locked);
        const newTime = !(wasActive && current !== undefined && sameTime(current, incoming));
        if (newTime) overrideUsed = BookingEngine.checkPolicy(this.bookingPolicyViolations(time, now), actor) || overrideUsed;
        const extension = withoutExtensions(incoming.extension, [APPOINTMENT_BUFFER_URL]);
        if (time.buffer > 0) extension.push(appointmentBufferExtension(time.buffer));
        stored = { ...incoming, participant: BookingEngine.withScheduleActors(incoming, time) };
        if (extension.length > 0) stored.extension = extension;
        else delete stored.extension;
        if (stored.start === undefined) {
          stored.start = time.startText;
          stored.end = time.endText;
        }
        ws.put('Appointment', id, stored as StoredFhirResource, 'PUT');
        await this.occupy(ws, id, time, incoming.status);
      } else {
        ws.put('Appointment', id, stored as StoredFhirResource, 'PUT');
      }
      const action: AuditAction = current === undefined ? 'appointment-write' : current.status !== incoming.status ? 'status-change' : 'appointment-write';
      this.audit(ws, action, actor, [`Appointment/${id}`], overrideUsed, now);
      return { created: current === undefined };
    });
    return this.resultOf(id, outcome.created);
  }

  /** A status change through the engine (cancel, no-show, arrived, ...), keeping everything else. */
  async changeStatus(id: string, status: AppointmentStatus, actor: Actor, cancelationReason?: string): Promise<EngineResult> {
    const doc = await this.deps.store.read('Appointment', id);
    if (doc === undefined || doc.resource === null) throw notFound(`Appointment/${id} is not known`);
    const current = doc.resource as Appointment & { id: string };
    const incoming: Appointment & { id: string } = { ...current, status };
    if (status === 'cancelled' && cancelationReason !== undefined) incoming.cancelationReason = { text: cancelationReason };
    return this.write(id, incoming, actor, () => undefined);
  }

  /** Releases holds whose `hold-expires` has passed (SPEC §4.6): cancelled, reason hold-expired, audited. */
  async expireHold(id: string): Promise<boolean> {
    const locks = await this.appointmentLocks(id);
    return this.run(locks, async (ws) => {
      const now = this.deps.now();
      const current = (await ws.get('Appointment', id)) as (Appointment & { id: string }) | undefined;
      if (current === undefined || current.status !== 'pending') return false;
      const expires = current.extension?.find((e) => e.url === HOLD_EXPIRES_URL)?.valueInstant;
      if (expires === undefined || Date.parse(expires) > now) return false;
      await this.release(ws, current, [id]);
      const cancelled: Appointment = {
        ...current,
        status: 'cancelled',
        cancelationReason: { coding: [{ system: CANCELATION_REASON_SYSTEM, code: 'hold-expired' }], text: 'hold-expired' },
      };
      delete cancelled.meta;
      ws.put('Appointment', id, cancelled as StoredFhirResource, 'PUT');
      this.audit(ws, 'hold-expired', { caller: { subject: 'kairos', kind: 'system' } }, [`Appointment/${id}`], false, now);
      return true;
    });
  }
}

function sameTime(a: Appointment, b: Appointment): boolean {
  const slots = (x: Appointment): string =>
    (x.slot ?? [])
      .map((s) => s.reference ?? '')
      .sort()
      .join(',');
  const actors = (x: Appointment): string =>
    (x.participant ?? [])
      .filter((p) => p.status !== 'declined')
      .map((p) => p.actor?.reference ?? '')
      .sort()
      .join(',');
  return (
    a.start !== undefined &&
    b.start !== undefined &&
    Date.parse(a.start) === Date.parse(b.start) &&
    Date.parse(a.end ?? '') === Date.parse(b.end ?? '') &&
    slots(a) === slots(b) &&
    actors(a) === actors(b)
  );
}
