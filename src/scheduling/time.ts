import { IANAZone } from 'luxon';

/**
 * Time-zone arithmetic for scheduling. The only module that imports luxon (STYLE: scheduling/).
 *
 * Two kinds of millisecond numbers appear here:
 * - an *instant*: epoch milliseconds, a real point in time;
 * - a *local* time: the wall-clock reading in a zone, encoded as if that reading were UTC
 *   (`Date.UTC(y, m - 1, d, h, min, s)`). Local day `n` spans `[n * DAY_MS, (n + 1) * DAY_MS)`.
 * Converting local → instant goes through the zone's real offset rules (tzdata, via luxon), so a
 * local span may map to no instant (spring-forward gap) or to two separate instant ranges (a
 * fall-back hour happens twice).
 *
 * Output choice: instants written for a zone carry that zone's offset (`2027-03-14T03:00:00-04:00`),
 * never `Z`, so a clinic reads its own wall-clock times; both forms are valid R4 instants.
 */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
/** No zone's offset exceeds this (ISO 8601 allows ±18:00; tzdata uses -12:00..+14:00). */
const MAX_OFFSET_MS = 18 * 3_600_000;

/** A half-open range of epoch milliseconds `[start, end)`. */
export interface Interval {
  start: number;
  end: number;
}

/** A change of a zone's UTC offset at instant `at` (offsets in minutes, east positive). */
export interface OffsetTransition {
  at: number;
  before: number;
  after: number;
}

/** Offset rules of one IANA zone, cached per UTC day. */
export interface ZoneRules {
  readonly zone: string;
  /** UTC offset in minutes at an instant. */
  offsetAt(instant: number): number;
  /** Offset changes in `[from, to)`, earliest first. */
  transitionsIn(from: number, to: number): OffsetTransition[];
}

// IANA names look like `Europe/Athens`, `America/Argentina/Buenos_Aires`, `Etc/GMT+5`, `UTC`.
// Intl alone would also accept offset strings such as `+03:00` on newer ICU builds.
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

const zoneValidity = new Map<string, boolean>();

/**
 * True when `zone` is an IANA time-zone name this runtime's tzdata knows. Answers are cached:
 * luxon builds an Intl formatter to decide, which costs far more than a booking's other checks.
 */
export function isValidZone(zone: string): boolean {
  const known = zoneValidity.get(zone);
  if (known !== undefined) return known;
  const valid = ZONE_NAME.test(zone) && IANAZone.isValidZone(zone);
  if (zoneValidity.size < 10_000) zoneValidity.set(zone, valid);
  return valid;
}

/**
 * Per UTC day: either one offset for the whole day, or the one transition inside it. tzdata has
 * no zone in current use that changes offset twice within one UTC day.
 */
type DayOffsets = { offset: number } | { transition: OffsetTransition };

const rulesCache = new Map<string, ZoneRules>();

/** The cached offset rules of `zone`; throws on an unknown zone (validate with `isValidZone` first). */
export function zoneRules(zone: string): ZoneRules {
  const cached = rulesCache.get(zone);
  if (cached) return cached;
  if (!isValidZone(zone)) throw new RangeError(`Unknown time zone "${zone}"`);
  const luxonZone = IANAZone.create(zone);
  const days = new Map<number, DayOffsets>();

  const dayOffsets = (day: number): DayOffsets => {
    const known = days.get(day);
    if (known) return known;
    const from = day * DAY_MS;
    const to = from + DAY_MS;
    // Compare the last second of the previous day with the last second of this one, so that a
    // transition exactly at 00:00:00 UTC is found in the day it starts.
    const before = luxonZone.offset(from - 1000);
    const after = luxonZone.offset(to - 1000);
    let entry: DayOffsets;
    if (before === after) {
      entry = { offset: before };
    } else {
      // tzdata transitions fall on whole seconds: binary-search the first second with the new offset.
      let lo = from / 1000;
      let hi = (to - 1000) / 1000;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (luxonZone.offset(mid * 1000) === before) lo = mid + 1;
        else hi = mid;
      }
      entry = { transition: { at: lo * 1000, before, after } };
    }
    days.set(day, entry);
    return entry;
  };

  const rules: ZoneRules = {
    zone,
    offsetAt(instant: number): number {
      const entry = dayOffsets(Math.floor(instant / DAY_MS));
      if ('offset' in entry) return entry.offset;
      return instant < entry.transition.at ? entry.transition.before : entry.transition.after;
    },
    transitionsIn(from: number, to: number): OffsetTransition[] {
      const found: OffsetTransition[] = [];
      const last = Math.floor((to - 1) / DAY_MS);
      for (let day = Math.floor(from / DAY_MS); day <= last; day++) {
        const entry = dayOffsets(day);
        if ('transition' in entry && entry.transition.at >= from && entry.transition.at < to) {
          found.push(entry.transition);
        }
      }
      return found;
    },
  };
  rulesCache.set(zone, rules);
  return rules;
}

/** The local time (wall clock as if UTC) at an instant. */
export function toLocal(rules: ZoneRules, instant: number): number {
  return instant + rules.offsetAt(instant) * MINUTE_MS;
}

/** The local day number (days since 1970-01-01 in the zone's calendar) of an instant. */
export function localDayOf(rules: ZoneRules, instant: number): number {
  return Math.floor(toLocal(rules, instant) / DAY_MS);
}

/** ISO weekday index of a local day number: 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday). */
export function weekdayOfLocalDay(day: number): number {
  return (((day + 3) % 7) + 7) % 7;
}

/**
 * The instants whose local time lies in `[localStart, localEnd)`, as sorted, disjoint, merged
 * intervals. A spring-forward gap inside the span contributes nothing; a fall-back overlap
 * contributes both occurrences, so the result may have two intervals.
 */
export function localSpanToInstants(rules: ZoneRules, localStart: number, localEnd: number): Interval[] {
  if (!(localEnd > localStart)) return [];
  const searchFrom = localStart - MAX_OFFSET_MS;
  const searchTo = localEnd + MAX_OFFSET_MS;
  const transitions = rules.transitionsIn(searchFrom, searchTo);
  if (transitions.length === 0) {
    const offset = rules.offsetAt(localStart) * MINUTE_MS;
    return [{ start: localStart - offset, end: localEnd - offset }];
  }
  // Between transitions the offset is constant, so local = instant + offset is monotonic there.
  const result: Interval[] = [];
  let pieceStart = searchFrom;
  let offset = (transitions[0]?.before ?? 0) * MINUTE_MS;
  const addPiece = (pieceEnd: number): void => {
    const start = Math.max(localStart - offset, pieceStart);
    const end = Math.min(localEnd - offset, pieceEnd);
    if (end <= start) return;
    const previous = result[result.length - 1];
    if (previous && previous.end >= start) previous.end = Math.max(previous.end, end);
    else result.push({ start, end });
  };
  for (const transition of transitions) {
    addPiece(transition.at);
    pieceStart = transition.at;
    offset = transition.after * MINUTE_MS;
  }
  addPiece(searchTo);
  return result;
}

/**
 * The earliest instant whose local time is at or after `local`: a time inside a spring-forward gap
 * resolves to the end of the gap, a repeated time to its first occurrence.
 */
export function localToInstant(rules: ZoneRules, local: number): number {
  const first = localSpanToInstants(rules, local, local + 2 * DAY_MS)[0];
  // Unreachable for real zones (no gap lasts two days); the plain offset keeps the type total.
  return first ? first.start : local - rules.offsetAt(local) * MINUTE_MS;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** `+hh:mm` / `-hh:mm` for an offset in minutes. */
export function formatOffset(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(Math.round(offsetMinutes));
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const TWO_DIGITS: readonly string[] = Array.from({ length: 60 }, (_, i) => pad(i));
/** Local times whose date toISOString writes as `YYYY-MM-DD` (years 0000–9999). */
const FIRST_FOUR_DIGIT_YEAR = Date.parse('0000-01-01T00:00:00Z');
const FIRST_FIVE_DIGIT_YEAR = Date.UTC(10_000, 0, 1);
// The generator formats thousands of instants of the same few days and offsets in a row.
let memoDay = Number.NaN;
let memoDate = '';
let memoOffset = Number.NaN;
let memoOffsetText = '';

/**
 * An R4 `instant` in the zone's own offset, e.g. `2027-03-14T03:00:00-04:00`; milliseconds only
 * when non-zero. Built from the cached offset, without luxon, because the generator formats every
 * Slot; whole seconds (every Slot boundary) from the memoised day and offset texts.
 */
export function formatInstant(instant: number, rules: ZoneRules): string {
  const offset = rules.offsetAt(instant);
  const local = instant + offset * MINUTE_MS;
  if (offset !== memoOffset) {
    memoOffsetText = formatOffset(offset);
    memoOffset = offset;
  }
  if (instant % 1000 !== 0 || !(local >= FIRST_FOUR_DIGIT_YEAR && local < FIRST_FIVE_DIGIT_YEAR)) {
    const iso = new Date(local).toISOString();
    const millis = instant % 1000 === 0 ? '' : iso.slice(19, 23);
    return `${iso.slice(0, 19)}${millis}${memoOffsetText}`;
  }
  const day = Math.floor(local / DAY_MS);
  if (day !== memoDay) {
    memoDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
    memoDay = day;
  }
  const seconds = Math.floor((local - day * DAY_MS) / 1000);
  return `${memoDate}T${TWO_DIGITS[Math.floor(seconds / 3600)]}:${TWO_DIGITS[Math.floor(seconds / 60) % 60]}:${TWO_DIGITS[seconds % 60]}${memoOffsetText}`;
}

/** The range a FHIR date/dateTime/instant value denotes (R4 search.html: every date is a range). */
export interface DateTimeRange {
  /** The first instant the value covers. */
  lo: number;
  /** The instant just after the value's precision (the next year/month/day/second/millisecond). */
  hi: number;
  /** True when the value has a time of day, i.e. it names an instant rather than a calendar span. */
  hasTime: boolean;
}

// R4 datatypes.html dateTime: YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss)(Z|±hh:mm).
const DATE_TIME =
  /^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01])(?:T([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?(Z|[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00))?)?)?)?$/;

/**
 * Resolves a FHIR date, dateTime or instant string. A value without a zone (a date, or a time
 * without offset) is read as local time in `rules.zone`. Returns undefined when malformed.
 */
export function parseDateTime(value: string, rules: ZoneRules): DateTimeRange | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]);
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month !== undefined && day !== undefined) {
    // Reject 2026-02-30 and friends: Date.UTC would roll them over silently.
    const check = new Date(Date.UTC(year, month - 1, day));
    if (check.getUTCMonth() !== month - 1) return undefined;
  }
  if (m[4] === undefined) {
    const localLo = Date.UTC(year, (month ?? 1) - 1, day ?? 1);
    const localHi =
      day !== undefined
        ? localLo + DAY_MS
        : month !== undefined
          ? Date.UTC(year, month, 1)
          : Date.UTC(year + 1, 0, 1);
    return { lo: localToInstant(rules, localLo), hi: localToInstant(rules, localHi), hasTime: false };
  }
  const fraction = m[7] === undefined ? '' : m[7].slice(1);
  const millis = fraction === '' ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  const step = fraction === '' ? 1000 : 1;
  const seconds = Math.min(Number(m[6]), 59); // a leap second 60 is read as :59
  const local = Date.UTC(year, (month ?? 1) - 1, day ?? 1, Number(m[4]), Number(m[5]), seconds, millis);
  const zone = m[8];
  let lo: number;
  if (zone === undefined) {
    lo = localToInstant(rules, local);
  } else if (zone === 'Z') {
    lo = local;
  } else {
    const sign = zone.startsWith('-') ? -1 : 1;
    lo = local - sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * MINUTE_MS;
  }
  return { lo, hi: lo + step, hasTime: true };
}

/** True when `value` is a well-formed FHIR date or dateTime (a real calendar date). */
export function isDateTime(value: string): boolean {
  return parseDateTime(value, zoneRules('UTC')) !== undefined;
}

/** True when `value` is a FHIR `instant`: a full date and time with seconds and a zone. */
export function isInstant(value: string): boolean {
  const m = DATE_TIME.exec(value);
  return m !== null && m[6] !== undefined && m[8] !== undefined;
}

// R4 datatypes.html time: hh:mm:ss(.sss), 00:00:00 to 23:59:59.
const TIME = /^([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d+)?$/;

/** Milliseconds after local midnight of an R4 `time` value, or undefined when malformed. */
export function parseTimeOfDay(value: string): number | undefined {
  const m = TIME.exec(value);
  if (!m) return undefined;
  const fraction = m[4] === undefined ? 0 : Number(m[4].slice(1, 4).padEnd(3, '0'));
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + fraction;
}
