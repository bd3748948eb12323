import type { Appointment, Period } from 'fhir/r4';
import type { ActorBlock, DateRange, IndexValue, SearchIndex, SortKeys } from '../store/store';
import type { ResourceType, StoredFhirResource } from './resource-types';
import { referenceType, searchParameters } from './search-parameters';
import type { DateValue, SearchParameter } from './search-parameters';

/** The ECMAScript time limits, standing for −∞ / +∞ (an open Period end). */
export const MIN_TIME = -8.64e15;
export const MAX_TIME = 8.64e15;

/** Minutes of time an Appointment blocks for its actors after its end (valueUnsignedInt). */
export const APPOINTMENT_BUFFER_URL = 'https://kairos.dev/fhir/StructureDefinition/appointment-buffer';

const MS_PER_400_YEARS = 146_097 * 86_400_000;

function utc(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  // Date.UTC maps years 0..99 to 1900..1999; the Gregorian calendar repeats every 400 years.
  if (year >= 100) return Date.UTC(year, month, day, hour, minute, second, ms);
  return Date.UTC(year + 400, month, day, hour, minute, second, ms) - MS_PER_400_YEARS;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}

/** The number written by `count` ASCII digits at `start`, or -1. */
function digits(text: string, start: number, count: number): number {
  if (start + count > text.length) return -1;
  let n = 0;
  for (let i = start; i < start + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The range a date, dateTime or instant stands for (R4 search.html#date: the precision implies
 * the range), from `yyyy[-mm[-dd[Thh:mm[:ss[.s+]][Z|±hh:mm]]]]`: `2024` is the year, `2024-03`
 * the month, `2024-03-08` the day, `…T10:00` the minute, `…T10:00:00` the second,
 * `…T10:00:00.123` the millisecond (finer fractions are cut to the millisecond); `hi` is
 * exclusive. A value without a zone is taken as UTC — a date-only value is therefore the UTC
 * day (Kairos has no server zone; R4 leaves zoneless values to the server). Undefined when the
 * text is not a valid date. Hand-written rather than a RegExp: it runs for every date of every
 * write (about 0.1 µs against 1 µs).
 */
export function dateRange(text: string): DateRange | undefined {
  const length = text.length;
  const year = digits(text, 0, 4);
  if (year < 0) return undefined;
  if (length === 4) return { lo: utc(year, 0, 1, 0, 0, 0, 0), hi: utc(year + 1, 0, 1, 0, 0, 0, 0) };
  const month = text.charCodeAt(4) === 45 /* - */ ? digits(text, 5, 2) : -1;
  if (month < 1 || month > 12) return undefined;
  if (length === 7) return { lo: utc(year, month - 1, 1, 0, 0, 0, 0), hi: utc(year, month, 1, 0, 0, 0, 0) };
  const day = text.charCodeAt(7) === 45 ? digits(text, 8, 2) : -1;
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  if (length === 10) return { lo: utc(year, month - 1, day, 0, 0, 0, 0), hi: utc(year, month - 1, day + 1, 0, 0, 0, 0) };
  if (text.charCodeAt(10) !== 84 /* T */ || text.charCodeAt(13) !== 58 /* : */) return undefined;
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return undefined;
  let position = 16;
  let second = 0;
  let ms = 0;
  let width = 60_000;
  if (text.charCodeAt(position) === 58) {
    second = digits(text, 17, 2);
    // R4 time: seconds may be 60 (a leap second); Date.UTC carries it into the next minute.
    if (second < 0 || second > 60) return undefined;
    position = 19;
    width = 1000;
    if (text.charCodeAt(position) === 46 /* . */) {
      let end = position + 1;
      while (end < length && end - position <= 9) {
        const d = text.charCodeAt(end) - 48;
        if (d < 0 || d > 9) break;
        if (end - position <= 3) ms = ms * 10 + d;
        end++;
      }
      const fractionDigits = end - position - 1;
      if (fractionDigits === 0) return undefined;
      if (fractionDigits === 1) {
        ms *= 100;
        width = 100;
      } else if (fractionDigits === 2) {
        ms *= 10;
        width = 10;
      } else {
        width = 1;
      }
      position = end;
    }
  }
  let offset = 0;
  if (position < length) {
    const sign = text.charCodeAt(position);
    if (sign === 90 /* Z */ && position + 1 === length) {
      offset = 0;
    } else if ((sign === 43 /* + */ || sign === 45) && position + 6 === length && text.charCodeAt(position + 3) === 58) {
      const zh = digits(text, position + 1, 2);
      const zm = digits(text, position + 4, 2);
      if (zh < 0 || zh > 14 || zm < 0 || zm > 59) return undefined;
      offset = (sign === 45 ? -1 : 1) * (zh * 60 + zm) * 60_000;
    } else {
      return undefined;
    }
  }
  const lo = utc(year, month - 1, day, hour, minute, second, ms) - offset;
  return { lo, hi: lo + width };
}

/** A Period's range: start.lo .. end.hi, a missing end being −∞ / +∞ (R4 search.html#date). */
export function periodRange(value: Period): DateRange | undefined {
  const start = value.start === undefined ? undefined : dateRange(value.start);
  const end = value.end === undefined ? undefined : dateRange(value.end);
  if ((value.start !== undefined && start === undefined) || (value.end !== undefined && end === undefined)) return undefined;
  if (start === undefined && end === undefined) return undefined;
  return { lo: start?.lo ?? MIN_TIME, hi: end?.hi ?? MAX_TIME };
}

function dateValueRange(value: DateValue): DateRange | undefined {
  return typeof value === 'string' ? dateRange(value) : periodRange(value);
}

// The combining marks that NFD splits accents into.
const COMBINING_MARKS = /[\u0300-\u036f]/g;
const NON_ASCII = /[^\u0000-\u007f]/;

/** Lower-case and accent-free (R4 search.html#string: matching ignores case and accents). */
export function normalizeString(value: string): string {
  const lower = value.toLowerCase();
  return NON_ASCII.test(lower) ? lower.normalize('NFD').replace(COMBINING_MARKS, '') : lower;
}

/**
 * The index key of a reference: `Type/id` for a relative one (a version suffix
 * `/_history/n` dropped), the relative form of an absolute URL under `baseUrl`, any other
 * absolute URL as given. Contained (`#x`) references have no key.
 */
export function referenceKey(reference: string, baseUrl?: string): string | undefined {
  if (reference.length === 0 || reference.startsWith('#')) return undefined;
  let key = reference;
  if (baseUrl !== undefined && key.startsWith(baseUrl) && key.charAt(baseUrl.length) === '/') {
    key = key.slice(baseUrl.length + 1);
  }
  const history = key.indexOf('/_history/');
  return history === -1 ? key : key.slice(0, history);
}

function pushUnique<T extends IndexValue>(values: T[], value: T): void {
  if (!values.includes(value)) values.push(value);
}

/** R4 appointmentstatus codes that hold time (SPEC §4.5: the booking invariant). */
const BLOCKING_STATUSES: ReadonlySet<string> = new Set(['pending', 'booked', 'arrived', 'checked-in']);
/** SPEC §4.5: the actors that cannot be in two appointments at once. */
const BLOCKABLE_ACTORS: ReadonlySet<string> = new Set([
  'Practitioner',
  'PractitionerRole',
  'Location',
  'Device',
  'HealthcareService',
]);

function actorBlocks(appointment: Appointment, baseUrl: string | undefined): ActorBlock[] {
  if (!BLOCKING_STATUSES.has(appointment.status) || appointment.start === undefined || appointment.end === undefined) {
    return [];
  }
  const start = dateRange(appointment.start);
  const end = dateRange(appointment.end);
  if (start === undefined || end === undefined) return [];
  let bufferMinutes = 0;
  for (const e of appointment.extension ?? []) {
    if (e.url === APPOINTMENT_BUFFER_URL && e.valueUnsignedInt !== undefined) bufferMinutes = e.valueUnsignedInt;
  }
  // Instants are points: the block runs from the start instant to the end instant (+ buffer).
  const hi = end.lo + bufferMinutes * 60_000;
  const blocks: ActorBlock[] = [];
  for (const p of appointment.participant) {
    if (p.actor === undefined || p.status === 'declined') continue;
    const type = referenceType(p.actor);
    if (type === undefined || !BLOCKABLE_ACTORS.has(type) || p.actor.reference === undefined) continue;
    const a = referenceKey(p.actor.reference, baseUrl);
    if (a !== undefined && !blocks.some((b) => b.a === a)) blocks.push({ a, lo: start.lo, hi });
  }
  return blocks;
}

interface IndexPlan {
  readonly parameters: readonly SearchParameter[];
  /** `<code>:text` (tokens) or `<code>:exact` (strings), built once rather than per write. */
  readonly extraKeys: readonly string[];
}

const PLANS = new Map<ResourceType, IndexPlan>();

function indexPlan(type: ResourceType): IndexPlan {
  let plan = PLANS.get(type);
  if (plan === undefined) {
    // `_id` is the document's `_id`, not an index entry.
    const parameters = searchParameters(type).filter((p) => p.code !== '_id');
    const extraKeys = parameters.map((p) => (p.type === 'token' ? `${p.code}:text` : `${p.code}:exact`));
    plan = { parameters, extraKeys };
    PLANS.set(type, plan);
  }
  return plan;
}

/**
 * Extracts the search values of a resource following the SearchIndex conventions
 * (store/store.ts), and one sort key per parameter (SortKeys). `baseUrl` (no trailing slash)
 * makes absolute references to this server relative. Runs on every write: one pass, arrays
 * allocated only for parameters that have values.
 */
export function indexResource(resource: StoredFhirResource, baseUrl?: string): { s: SearchIndex; o: SortKeys } {
  const s: SearchIndex = {};
  const o: SortKeys = {};
  const { parameters, extraKeys } = indexPlan(resource.resourceType);
  for (let i = 0; i < parameters.length; i++) {
    const p = parameters[i];
    if (p === undefined) continue;
    const code = p.code;
    switch (p.type) {
      case 'token': {
        const tokens = p.extract(resource);
        if (tokens.length === 0) break;
        let keys: string[] | undefined;
        let texts: string[] | undefined;
        for (const t of tokens) {
          const value = t.code;
          if (value !== undefined && value !== '') {
            if (keys === undefined) {
              keys = [value];
              o[code] = value;
            } else {
              pushUnique(keys, value);
            }
            const system = t.system;
            if (system !== undefined && system !== '') {
              pushUnique(keys, system + '|' + value);
              pushUnique(keys, system + '|');
            } else {
              pushUnique(keys, '|' + value);
            }
          }
          const text = t.text;
          if (text !== undefined && text !== '') {
            if (texts === undefined) texts = [normalizeString(text)];
            else pushUnique(texts, normalizeString(text));
          }
        }
        if (keys !== undefined) s[code] = keys;
        if (texts !== undefined) s[extraKeys[i] ?? `${code}:text`] = texts;
        break;
      }
      case 'string': {
        const values = p.extract(resource);
        if (values.length === 0) break;
        const normalized: string[] = [];
        const exact: string[] = [];
        for (const v of values) {
          if (v === '') continue;
          pushUnique(normalized, normalizeString(v));
          pushUnique(exact, v);
        }
        const first = normalized[0];
        if (first === undefined) break;
        s[code] = normalized;
        s[extraKeys[i] ?? `${code}:exact`] = exact;
        o[code] = first;
        break;
      }
      case 'reference': {
        const values = p.extract(resource);
        if (values.length === 0) break;
        const keys: string[] = [];
        for (const v of values) {
          const key = referenceKey(v, baseUrl);
          if (key !== undefined) pushUnique(keys, key);
        }
        const first = keys[0];
        if (first === undefined) break;
        s[code] = keys;
        o[code] = first;
        break;
      }
      case 'date': {
        const values = p.extract(resource);
        if (values.length === 0) break;
        const ranges: DateRange[] = [];
        for (const v of values) {
          const range = dateValueRange(v);
          if (range !== undefined) ranges.push(range);
        }
        const first = ranges[0];
        if (first === undefined) break;
        s[code] = ranges;
        o[code] = first.lo;
        break;
      }
      case 'uri': {
        const values = p.extract(resource).filter((v) => v !== '');
        const first = values[0];
        if (first === undefined) break;
        s[code] = values;
        o[code] = first;
        break;
      }
      case 'number': {
        const values = p.extract(resource).filter((v) => Number.isFinite(v));
        const first = values[0];
        if (first === undefined) break;
        s[code] = values;
        o[code] = first;
        break;
      }
    }
  }
  if (resource.resourceType === 'Appointment') {
    // resourceType 'Appointment' makes this an Appointment (validated before it is indexed).
    const blocks = actorBlocks(resource as unknown as Appointment, baseUrl);
    if (blocks.length > 0) s._block = blocks;
  }
  return { s, o };
}
