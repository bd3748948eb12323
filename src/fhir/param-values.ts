import { badRequest } from './outcome';

/** SPEC §3: `_count` defaults to 50 and is capped at 1000; 0 asks for the total only. */
export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

export function parseCount(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`_count must be a non-negative whole number, got "${value}"`, undefined, 'value');
  return Math.min(Number(value), MAX_COUNT);
}

/** `_offset`: Kairos' paging cursor in `next`/`previous` links. */
export function parseOffset(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`_offset must be a non-negative whole number, got "${value}"`, undefined, 'value');
  return Number(value);
}

const DATE_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * Parses a FHIR date/dateTime/instant value into the range its precision implies (R4
 * search.html#date), epoch ms, `lo` inclusive, `hi` exclusive. A value without a zone is read as
 * UTC (Kairos' documented choice: servers differ here, UTC makes results independent of where the
 * server runs). Returns undefined when the text is not a FHIR date.
 */
export function parseDateRange(value: string): { lo: number; hi: number } | undefined {
  const m = DATE_PATTERN.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  // A time needs a zone in FHIR dateTime; tolerate its absence in search values (read as UTC).
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const lo = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60000;
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined;
  let hi: number;
  if (mo === undefined) hi = Date.UTC(year + 1, 0, 1);
  else if (d === undefined) hi = Date.UTC(year, month, 1);
  else if (h === undefined) hi = Date.UTC(year, month - 1, day + 1);
  else if (s === undefined) hi = lo + 60000;
  else if (frac === undefined) hi = lo + 1000;
  else hi = lo + 1;
  return { lo, hi };
}

/** A date parameter that must parse (e.g. `_since`, `_at`), as a range. */
export function parseInstantParam(name: string, value: string): { lo: number; hi: number } {
  const range = parseDateRange(value);
  if (range === undefined) throw badRequest(`${name} must be a FHIR date or instant, got "${value}"`, undefined, 'value');
  return range;
}
