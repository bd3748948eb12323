import type {
  Appointment,
  CodeableConcept,
  Extension,
  HealthcareService,
  Reference,
  Schedule,
  Slot,
} from 'fhir/r4';
import { FhirError, operationOutcome } from '../fhir/outcome';
import type { IssueInput } from '../fhir/outcome';
import { isDateTime, isInstant, isValidZone, parseDateTime, parseTimeOfDay, zoneRules } from './time';
import type { ZoneRules } from './time';

/*
 * Kairos' extensions (SPEC §4.1–§4.3, §4.6): URLs, typed parsers and the write-path validation.
 * Their StructureDefinitions are in profiles/ (one file per URL below).
 *
 * Issue expressions use one FHIRPath style throughout: every step is `.extension('<url>')` with the
 * full URL at the resource level and the short sub-extension url below it, e.g.
 * `Schedule.extension('https://kairos.dev/fhir/StructureDefinition/schedule-availability').extension('availableTime')[1].extension('daysOfWeek')`.
 * A step gets a 0-based index `[n]` (counted among siblings with the same url) only when it
 * addresses one occurrence of a repeating *complex* sub-extension (`availableTime`,
 * `notAvailable`); a leaf sub-extension is named without an index and the diagnostics quote the
 * offending value. An element without a url is addressed by position: `.extension[3]`.
 */

export const KAIROS_STRUCTURE_DEFINITION_BASE = 'https://kairos.dev/fhir/StructureDefinition/';
export const SCHEDULE_AVAILABILITY_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}schedule-availability`;
export const BOOKING_POLICY_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}booking-policy`;
export const SERVICE_DURATION_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}service-duration`;
export const REQUIRED_LOCATION_TYPE_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}required-location-type`;
export const HOLD_EXPIRES_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}hold-expires`;
export const APPOINTMENT_BUFFER_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}appointment-buffer`;
export const BLOCKED_BY_URL = `${KAIROS_STRUCTURE_DEFINITION_BASE}blocked-by`;

/** Every extension Kairos defines; each has a StructureDefinition in profiles/ (for the CapabilityStatement). */
export const KAIROS_EXTENSION_URLS = [
  SCHEDULE_AVAILABILITY_URL,
  BOOKING_POLICY_URL,
  SERVICE_DURATION_URL,
  REQUIRED_LOCATION_TYPE_URL,
  HOLD_EXPIRES_URL,
  APPOINTMENT_BUFFER_URL,
  BLOCKED_BY_URL,
] as const;

/** R4 days-of-week codes, Monday first (index = ISO weekday - 1). */
export const DAYS_OF_WEEK = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type DayOfWeek = (typeof DAYS_OF_WEEK)[number];

export const DEFAULT_SLOT_MINUTES = 15;
const MILLIS_PER_DAY = 86_400_000;

/** One weekly working window, in local time of the template's zone. */
export interface AvailableTime {
  /** Days the window applies to; an empty list means every day. */
  daysOfWeek: DayOfWeek[];
  allDay: boolean;
  /** Milliseconds after local midnight; 0 when absent or allDay. */
  startMs: number;
  /** Milliseconds after local midnight, exclusive; 24 h when absent or allDay. Always > startMs. */
  endMs: number;
}

/** A period without availability, resolved to instants (open ends are ±Infinity). */
export interface NotAvailable {
  description: string | undefined;
  start: number;
  end: number;
}

/** The parsed `schedule-availability` extension (SPEC §4.1). */
export interface AvailabilityTemplate {
  /** IANA zone every local time is in. */
  timezone: string;
  slotMinutes: number;
  bufferMinutes: number;
  availableTime: AvailableTime[];
  notAvailable: NotAvailable[];
}

/** The parsed `booking-policy` extension (SPEC §4.2), defaults applied. */
export interface BookingPolicy {
  minNoticeMinutes: number;
  /** Undefined: no limit on how far ahead. */
  bookingWindowDays: number | undefined;
  cancelNoticeMinutes: number;
  autoConfirm: boolean;
}

// ---------------------------------------------------------------------------------------------
// Extension shapes as data: one table drives both validation and parsing.

type ValueKey =
  | 'valueCode'
  | 'valuePositiveInt'
  | 'valueUnsignedInt'
  | 'valueBoolean'
  | 'valueString'
  | 'valueTime'
  | 'valuePeriod'
  | 'valueInstant'
  | 'valueReference'
  | 'valueCodeableConcept';

interface LeafSpec {
  kind: 'leaf';
  value: ValueKey;
  min: 0 | 1;
  max: 1 | '*';
}

interface ComplexSpec {
  kind: 'complex';
  min: 0 | 1;
  max: 1 | '*';
  children: Readonly<Record<string, ExtensionSpec>>;
}

type ExtensionSpec = LeafSpec | ComplexSpec;

const leaf = (value: ValueKey, min: 0 | 1 = 0, max: 1 | '*' = 1): LeafSpec => ({ kind: 'leaf', value, min, max });

const AVAILABILITY_SPEC: ComplexSpec = {
  kind: 'complex',
  min: 0,
  max: 1,
  children: {
    timezone: leaf('valueCode', 1),
    slotMinutes: leaf('valuePositiveInt'),
    bufferMinutes: leaf('valueUnsignedInt'),
    availableTime: {
      kind: 'complex',
      min: 0,
      max: '*',
      children: {
        daysOfWeek: leaf('valueCode', 0, '*'),
        availableStartTime: leaf('valueTime'),
        availableEndTime: leaf('valueTime'),
        allDay: leaf('valueBoolean'),
      },
    },
    notAvailable: {
      kind: 'complex',
      min: 0,
      max: '*',
      children: { description: leaf('valueString'), during: leaf('valuePeriod') },
    },
  },
};

const BOOKING_POLICY_SPEC: ComplexSpec = {
  kind: 'complex',
  min: 0,
  max: 1,
  children: {
    minNoticeMinutes: leaf('valueUnsignedInt'),
    bookingWindowDays: leaf('valuePositiveInt'),
    cancelNoticeMinutes: leaf('valueUnsignedInt'),
    autoConfirm: leaf('valueBoolean'),
  },
};

interface ExtensionDefinition {
  spec: ExtensionSpec;
  /** Resource types the extension may be used on (its StructureDefinition's context). */
  context: readonly string[];
}

const DEFINITIONS: ReadonlyMap<string, ExtensionDefinition> = new Map<string, ExtensionDefinition>([
  [SCHEDULE_AVAILABILITY_URL, { spec: AVAILABILITY_SPEC, context: ['Schedule'] }],
  [BOOKING_POLICY_URL, { spec: BOOKING_POLICY_SPEC, context: ['Schedule', 'HealthcareService'] }],
  [SERVICE_DURATION_URL, { spec: leaf('valuePositiveInt'), context: ['HealthcareService'] }],
  [REQUIRED_LOCATION_TYPE_URL, { spec: leaf('valueCodeableConcept'), context: ['HealthcareService'] }],
  [HOLD_EXPIRES_URL, { spec: leaf('valueInstant'), context: ['Appointment'] }],
  [APPOINTMENT_BUFFER_URL, { spec: leaf('valueUnsignedInt'), context: ['Appointment'] }],
  [BLOCKED_BY_URL, { spec: leaf('valueReference', 0, '*'), context: ['Slot'] }],
]);

// ---------------------------------------------------------------------------------------------
// The generic walker.

/** One validated occurrence of an extension: its expression, its value (leaf) or children (complex). */
interface Occurrence {
  path: string;
  /** The value[x] content when it is present and well-typed; undefined otherwise. */
  value: unknown;
  children: ReadonlyMap<string, Occurrence[]>;
}

class Issues {
  readonly list: IssueInput[] = [];
  add(expression: string, diagnostics: string): void {
    this.list.push({ code: 'invalid', diagnostics, expression: [expression] });
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new FhirError(422, operationOutcome(...this.list));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const MAX_INT = 2_147_483_647;

/** Why a value is not a valid `key`, or undefined when it is. */
function valueProblem(key: ValueKey, value: unknown): string | undefined {
  switch (key) {
    case 'valueCode':
      return typeof value === 'string' && /^[^\s]+( [^\s]+)*$/.test(value) ? undefined : 'is not a code';
    case 'valuePositiveInt':
      return Number.isInteger(value) && typeof value === 'number' && value >= 1 && value <= MAX_INT
        ? undefined
        : 'is not a positiveInt (a whole number ≥ 1)';
    case 'valueUnsignedInt':
      return Number.isInteger(value) && typeof value === 'number' && value >= 0 && value <= MAX_INT
        ? undefined
        : 'is not an unsignedInt (a whole number ≥ 0)';
    case 'valueBoolean':
      return typeof value === 'boolean' ? undefined : 'is not a boolean';
    case 'valueString':
      return typeof value === 'string' && value.trim() !== '' ? undefined : 'is not a non-empty string';
    case 'valueTime':
      return typeof value === 'string' && parseTimeOfDay(value) !== undefined
        ? undefined
        : 'is not a time (hh:mm:ss, 00:00:00 to 23:59:59)';
    case 'valueInstant':
      return typeof value === 'string' && isInstant(value) && isDateTime(value)
        ? undefined
        : 'is not an instant (date, time with seconds, and zone)';
    case 'valuePeriod': {
      if (!isObject(value)) return 'is not a Period';
      for (const end of ['start', 'end'] as const) {
        const bound = value[end];
        if (bound !== undefined && (typeof bound !== 'string' || !isDateTime(bound))) {
          return `has a ${end} that is not a dateTime`;
        }
      }
      return undefined;
    }
    case 'valueReference':
      return isObject(value) &&
        (typeof value['reference'] === 'string' || isObject(value['identifier']) || typeof value['display'] === 'string')
        ? undefined
        : 'is not a Reference';
    case 'valueCodeableConcept': {
      if (!isObject(value)) return 'is not a CodeableConcept';
      const coding = value['coding'];
      const codingOk = coding === undefined || (Array.isArray(coding) && coding.every(isObject));
      const hasContent = (Array.isArray(coding) && coding.length > 0) || typeof value['text'] === 'string';
      return codingOk && hasContent ? undefined : 'is not a CodeableConcept with a coding or text';
    }
  }
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function checkExtension(extension: Record<string, unknown>, spec: ExtensionSpec, path: string, issues: Issues): Occurrence {
  const valueKeys = Object.keys(extension).filter((k) => /^value[A-Z]/.test(k));
  const children = new Map<string, Occurrence[]>();
  if (spec.kind === 'leaf') {
    // R4 ext-1: an extension has either nested extensions or a value, not both.
    if (extension['extension'] !== undefined) issues.add(path, `${path} must have a ${spec.value}, not nested extensions`);
    if (valueKeys.length === 0) {
      issues.add(path, `${path} needs a ${spec.value}`);
      return { path, value: undefined, children };
    }
    if (valueKeys.length > 1 || valueKeys[0] !== spec.value) {
      issues.add(path, `${path} must have ${spec.value}, found ${valueKeys.join(', ')}`);
      return { path, value: undefined, children };
    }
    const value = extension[spec.value];
    const problem = valueProblem(spec.value, value);
    if (problem !== undefined) {
      issues.add(path, `${path}: ${spec.value} ${describe(value)} ${problem}`);
      return { path, value: undefined, children };
    }
    return { path, value, children };
  }
  if (valueKeys.length > 0) issues.add(path, `${path} is a complex extension: it must not have ${valueKeys.join(', ')}`);
  const nested = extension['extension'];
  if (nested !== undefined && !Array.isArray(nested)) {
    issues.add(path, `${path}.extension must be an array`);
    return { path, value: undefined, children };
  }
  const list: unknown[] = Array.isArray(nested) ? nested : [];
  list.forEach((child, position) => {
    const url = isObject(child) ? child['url'] : undefined;
    if (!isObject(child) || typeof url !== 'string') {
      issues.add(`${path}.extension[${position}]`, `${path}.extension[${position}] has no url`);
      return;
    }
    const childSpec = spec.children[url];
    const childPathBase = `${path}.extension('${url}')`;
    if (childSpec === undefined) {
      issues.add(childPathBase, `Unknown sub-extension "${url}"; allowed: ${Object.keys(spec.children).join(', ')}`);
      return;
    }
    const siblings = children.get(url) ?? [];
    const childPath = childSpec.kind === 'complex' && childSpec.max === '*' ? `${childPathBase}[${siblings.length}]` : childPathBase;
    siblings.push(checkExtension(child, childSpec, childPath, issues));
    children.set(url, siblings);
  });
  for (const [url, childSpec] of Object.entries(spec.children)) {
    const count = children.get(url)?.length ?? 0;
    if (childSpec.min === 1 && count === 0) issues.add(`${path}.extension('${url}')`, `${path}: sub-extension "${url}" is required`);
    if (childSpec.max === 1 && count > 1) {
      issues.add(`${path}.extension('${url}')`, `${path}: sub-extension "${url}" appears ${count} times, at most once allowed`);
    }
  }
  return { path, value: undefined, children };
}

/** The first child's value, when it is present and valid. */
function childValue(occurrence: Occurrence, url: string): unknown {
  return occurrence.children.get(url)?.[0]?.value;
}

function childPath(occurrence: Occurrence, url: string): string {
  return `${occurrence.path}.extension('${url}')`;
}

/** The extension occurrences with `url` on a resource, checked against their definition. */
function readRootExtensions(
  resourceType: string,
  extensions: unknown,
  url: string,
  issues: Issues,
): Occurrence[] {
  const definition = DEFINITIONS.get(url);
  if (definition === undefined || !Array.isArray(extensions)) return [];
  const path = `${resourceType}.extension('${url}')`;
  const found = extensions.filter((e): e is Record<string, unknown> => isObject(e) && e['url'] === url);
  if (found.length === 0) return [];
  if (!definition.context.includes(resourceType)) {
    issues.add(path, `Extension ${url} is not allowed on ${resourceType} (context: ${definition.context.join(', ')})`);
    return [];
  }
  if (definition.spec.max === 1 && found.length > 1) {
    issues.add(path, `Extension ${url} appears ${found.length} times, at most once allowed`);
  }
  return found.map((e) => checkExtension(e, definition.spec, path, issues));
}

// ---------------------------------------------------------------------------------------------
// Interpretation of each extension (the rules a plain structure check cannot express).

function interpretAvailability(occurrence: Occurrence, issues: Issues): AvailabilityTemplate | undefined {
  const before = issues.list.length;
  const timezone = childValue(occurrence, 'timezone');
  let rules: ZoneRules | undefined;
  if (typeof timezone === 'string') {
    if (isValidZone(timezone)) rules = zoneRules(timezone);
    else issues.add(childPath(occurrence, 'timezone'), `Unknown IANA time zone "${timezone}"`);
  }
  const slotMinutes = childValue(occurrence, 'slotMinutes');
  const bufferMinutes = childValue(occurrence, 'bufferMinutes');

  const availableTime: AvailableTime[] = [];
  for (const window of occurrence.children.get('availableTime') ?? []) {
    const days: DayOfWeek[] = [];
    for (const day of window.children.get('daysOfWeek') ?? []) {
      if (typeof day.value !== 'string') continue;
      const known = DAYS_OF_WEEK.find((d) => d === day.value);
      if (known === undefined) {
        issues.add(day.path, `Unknown day code "${day.value}" in daysOfWeek; use one of ${DAYS_OF_WEEK.join(', ')}`);
      } else if (!days.includes(known)) {
        days.push(known);
      }
    }
    const allDay = childValue(window, 'allDay') === true;
    const startText = childValue(window, 'availableStartTime');
    const endText = childValue(window, 'availableEndTime');
    const startMs = typeof startText === 'string' ? parseTimeOfDay(startText) : undefined;
    const endMs = typeof endText === 'string' ? parseTimeOfDay(endText) : undefined;
    const hasTimes = window.children.has('availableStartTime') || window.children.has('availableEndTime');
    if (allDay && hasTimes) {
      // R5 Availability av-1: all-day availability cannot also give start/end times.
      issues.add(childPath(window, 'allDay'), 'allDay true cannot be combined with availableStartTime/availableEndTime');
      continue;
    }
    const start = allDay ? 0 : (startMs ?? 0);
    const end = allDay ? MILLIS_PER_DAY : (endMs ?? MILLIS_PER_DAY);
    if (end <= start) {
      // Windows crossing midnight are written as two windows (one per day); see profiles/README.md.
      issues.add(
        childPath(window, 'availableEndTime'),
        `availableEndTime ${String(endText)} must be after availableStartTime ${String(startText ?? '00:00:00')}`,
      );
      continue;
    }
    availableTime.push({ daysOfWeek: days, allDay, startMs: start, endMs: end });
  }

  const notAvailable: NotAvailable[] = [];
  // With a bad zone the periods are still checked for order, read in UTC.
  const periodRules = rules ?? zoneRules('UTC');
  for (const blocked of occurrence.children.get('notAvailable') ?? []) {
    const description = childValue(blocked, 'description');
    const during = childValue(blocked, 'during');
    if (!isObject(during)) continue; // no period: blocks nothing
    const bounds = resolvePeriod(during, periodRules);
    if (bounds.start > bounds.end) {
      issues.add(childPath(blocked, 'during'), `notAvailable.during starts (${String(during['start'])}) after it ends (${String(during['end'])})`);
      continue;
    }
    notAvailable.push({ description: typeof description === 'string' ? description : undefined, ...bounds });
  }

  if (issues.list.length > before || typeof timezone !== 'string' || rules === undefined) return undefined;
  return {
    timezone,
    slotMinutes: typeof slotMinutes === 'number' ? slotMinutes : DEFAULT_SLOT_MINUTES,
    bufferMinutes: typeof bufferMinutes === 'number' ? bufferMinutes : 0,
    availableTime,
    notAvailable,
  };
}

/**
 * A Period's instants: a missing start is -∞, a missing end +∞ (R4 datatypes.html Period). An end
 * given as a date (or year/month) includes that whole calendar span; an end with a time is the
 * exclusive end instant, so a block ending 17:00:00 leaves the 17:00 slot free.
 */
export function resolvePeriod(period: { start?: unknown; end?: unknown }, rules: ZoneRules): { start: number; end: number } {
  const start = typeof period.start === 'string' ? parseDateTime(period.start, rules) : undefined;
  const end = typeof period.end === 'string' ? parseDateTime(period.end, rules) : undefined;
  return {
    start: start ? start.lo : Number.NEGATIVE_INFINITY,
    end: end ? (end.hasTime ? end.lo : end.hi) : Number.POSITIVE_INFINITY,
  };
}

// A relative, absolute or transaction-local (urn:uuid) reference to an Appointment.
const APPOINTMENT_REFERENCE = /(^|\/)Appointment\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$|^urn:uuid:/;

function checkBlockedBy(occurrence: Occurrence, issues: Issues): void {
  const reference = isObject(occurrence.value) ? occurrence.value['reference'] : undefined;
  if (typeof reference === 'string' && !APPOINTMENT_REFERENCE.test(reference)) {
    issues.add(occurrence.path, `blocked-by must reference an Appointment, got "${reference}"`);
  }
}

function interpretBookingPolicy(occurrence: Occurrence): BookingPolicy {
  const minNotice = childValue(occurrence, 'minNoticeMinutes');
  const window = childValue(occurrence, 'bookingWindowDays');
  const cancelNotice = childValue(occurrence, 'cancelNoticeMinutes');
  const autoConfirm = childValue(occurrence, 'autoConfirm');
  return {
    minNoticeMinutes: typeof minNotice === 'number' ? minNotice : 0,
    bookingWindowDays: typeof window === 'number' ? window : undefined,
    cancelNoticeMinutes: typeof cancelNotice === 'number' ? cancelNotice : 0,
    autoConfirm: typeof autoConfirm === 'boolean' ? autoConfirm : true,
  };
}

// ---------------------------------------------------------------------------------------------
// Public API.

/** A resource as the write path sees it: any type, extensions not yet trusted. */
export interface ExtensibleResource {
  resourceType: string;
  extension?: unknown;
}

/**
 * Checks every Kairos extension on a resource against its profile (structure, cardinality, value
 * types, context) and its rules (real IANA zone, start before end, allDay without times, …).
 * Throws one 422 FhirError listing every problem; returns when all are valid. Extensions with
 * other URLs are left alone.
 */
export function validateKairosExtensions(resource: ExtensibleResource): void {
  const issues = new Issues();
  for (const url of KAIROS_EXTENSION_URLS) {
    const occurrences = readRootExtensions(resource.resourceType, resource.extension, url, issues);
    if (url === SCHEDULE_AVAILABILITY_URL) for (const o of occurrences) interpretAvailability(o, issues);
    if (url === BLOCKED_BY_URL) for (const o of occurrences) checkBlockedBy(o, issues);
  }
  issues.throwIfAny();
}

/** The one valid occurrence of `url`, throwing 422 when the extension is malformed. */
function readSingle(resource: ExtensibleResource, url: string): { occurrence: Occurrence; issues: Issues } | undefined {
  const issues = new Issues();
  const occurrences = readRootExtensions(resource.resourceType, resource.extension, url, issues);
  issues.throwIfAny();
  const occurrence = occurrences[0];
  return occurrence ? { occurrence, issues } : undefined;
}

/** The Schedule's availability template, undefined when it has none; throws 422 when malformed. */
export function parseAvailability(schedule: Schedule): AvailabilityTemplate | undefined {
  const found = readSingle(schedule, SCHEDULE_AVAILABILITY_URL);
  if (!found) return undefined;
  const template = interpretAvailability(found.occurrence, found.issues);
  found.issues.throwIfAny();
  return template;
}

/** The booking policy on a Schedule or HealthcareService with defaults applied, undefined when absent. */
export function parseBookingPolicy(resource: Schedule | HealthcareService): BookingPolicy | undefined {
  const found = readSingle(resource, BOOKING_POLICY_URL);
  return found ? interpretBookingPolicy(found.occurrence) : undefined;
}

function leafValue(resource: ExtensibleResource, url: string): unknown {
  return readSingle(resource, url)?.occurrence.value;
}

/** A HealthcareService's appointment length in minutes, undefined when not given. */
export function parseServiceDuration(service: HealthcareService): number | undefined {
  const value = leafValue(service, SERVICE_DURATION_URL);
  return typeof value === 'number' ? value : undefined;
}

/** The kind of room a HealthcareService needs (matched against Location.type), undefined when none. */
export function parseRequiredLocationType(service: HealthcareService): CodeableConcept | undefined {
  const value = leafValue(service, REQUIRED_LOCATION_TYPE_URL);
  return isObject(value) ? (value as CodeableConcept) : undefined;
}

/** When a held Appointment is released (epoch ms), undefined when it carries no hold. */
export function parseHoldExpires(appointment: Appointment): number | undefined {
  const value = leafValue(appointment, HOLD_EXPIRES_URL);
  return typeof value === 'string' ? Date.parse(value) : undefined;
}

/** The buffer (minutes) the booking engine stamped on an Appointment, undefined when none. */
export function parseAppointmentBuffer(appointment: Appointment): number | undefined {
  const value = leafValue(appointment, APPOINTMENT_BUFFER_URL);
  return typeof value === 'number' ? value : undefined;
}

/** The Appointment references that made a Slot busy (`blocked-by`), in order. */
export function parseBlockedBy(slot: Slot): string[] {
  const issues = new Issues();
  const occurrences = readRootExtensions('Slot', slot.extension, BLOCKED_BY_URL, issues);
  issues.throwIfAny();
  const references: string[] = [];
  for (const o of occurrences) {
    if (isObject(o.value) && typeof o.value['reference'] === 'string') references.push(o.value['reference']);
  }
  return references;
}

export function holdExpiresExtension(instant: string): Extension {
  return { url: HOLD_EXPIRES_URL, valueInstant: instant };
}

export function appointmentBufferExtension(minutes: number): Extension {
  return { url: APPOINTMENT_BUFFER_URL, valueUnsignedInt: minutes };
}

export function blockedByExtension(appointment: Reference): Extension {
  return { url: BLOCKED_BY_URL, valueReference: appointment };
}
