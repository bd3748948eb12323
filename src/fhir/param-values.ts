import { badRequest } from './outcome';
import { dateRange } from './search-index';

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

/**
 * A date parameter value as the range its precision implies (see `dateRange`); a `+` of a zone
 * offset that arrived unencoded (read as a space) is restored.
 */
export function parseDateRange(value: string): { lo: number; hi: number } | undefined {
  return dateRange(value.replace(/ (\d{2}:\d{2})$/, '+$1'));
}

/** A date parameter that must parse (e.g. `_since`, `_at`), as a range. */
export function parseInstantParam(name: string, value: string): { lo: number; hi: number } {
  const range = parseDateRange(value);
  if (range === undefined) throw badRequest(`${name} must be a FHIR date or instant, got "${value}"`, undefined, 'value');
  return range;
}
