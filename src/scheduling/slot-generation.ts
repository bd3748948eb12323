import type { CodeableConcept, Coding, Schedule, Slot } from 'fhir/r4';
import type { StoredFhirResource } from '../fhir/resource-types';
import { dateRange } from '../fhir/search-index';
import { deepFreeze } from '../fhir/json-values';
import { nextVersion } from '../store/resource-write';
import type { DateRange, ResourceWrite, SearchIndex, SortKeys } from '../store/store';
import { DAYS_OF_WEEK, resolvePeriod } from './availability';
import type { AvailabilityTemplate } from './availability';
import { DAY_MS, MINUTE_MS, formatInstant, localDayOf, localSpanToInstants, weekdayOfLocalDay, zoneRules } from './time';
import type { Interval, ZoneRules } from './time';

/*
 * The slot generator's pure core (SPEC §4.4): template → slot times → a plan of Slot creations and
 * removals. No I/O; the caller reads the existing Slots, writes the plan, and assigns ids.
 *
 * Rules:
 * - Each window is the set of real instants whose local time (in the template's zone) lies inside
 *   it (see time.ts localSpanToInstants); slots are laid back to back in real time from the start
 *   of that set, and a remainder shorter than a slot yields nothing. So a spring-forward window
 *   01:00–04:00 is two real hours with no 02:xx Slot, and a fall-back window 00:00–03:00 is four
 *   real hours whose Slots never overlap. Slots keep the window's grid; `notAvailable` periods and
 *   the range only drop the Slots they touch.
 * - Overlapping windows of one day are merged (their union is available); adjacent ones are not,
 *   so each keeps its own grid.
 * - Generated Slots are tagged `meta.tag` GENERATED_SLOT_TAG: that is how hand-made Slots are
 *   recognised. A client that rewrites a generated Slot without the tag takes it over.
 * - A generated `free` Slot that starts at or after now and no longer fits (template, horizon,
 *   active flag, or the Schedule's serviceType/specialty/serviceCategory changed) is removed, i.e.
 *   deleted; its replacement, if any, is created in the same plan. Busy, tentative, unavailable,
 *   entered-in-error, hand-made and already-started Slots are never touched.
 */

export const SLOT_ORIGIN_SYSTEM = 'https://kairos.dev/fhir/CodeSystem/slot-origin';

/** The `meta.tag` every generated Slot carries. */
export const GENERATED_SLOT_TAG: Readonly<Coding> = Object.freeze({
  system: SLOT_ORIGIN_SYSTEM,
  code: 'generated',
  display: 'Generated from the Schedule availability template',
});

/** True when the Slot was made by the generator (not by a client). */
export function isGeneratedSlot(slot: Slot): boolean {
  return slot.meta?.tag?.some((t) => t.system === SLOT_ORIGIN_SYSTEM && t.code === GENERATED_SLOT_TAG.code) === true;
}

interface DayWindow {
  startMs: number;
  endMs: number;
}

/** The windows of each weekday (0 = Monday), sorted, overlapping ones merged. */
function weeklyWindows(template: AvailabilityTemplate): DayWindow[][] {
  const week: DayWindow[][] = [];
  for (let weekday = 0; weekday < 7; weekday++) {
    const windows = template.availableTime
      .filter((w) => w.daysOfWeek.length === 0 || w.daysOfWeek.some((d) => dayIndex(d) === weekday))
      .map((w) => ({ startMs: w.startMs, endMs: w.endMs }))
      .sort((a, b) => a.startMs - b.startMs);
    const merged: DayWindow[] = [];
    for (const w of windows) {
      const last = merged[merged.length - 1];
      if (last && w.startMs < last.endMs) last.endMs = Math.max(last.endMs, w.endMs);
      else merged.push(w);
    }
    week.push(merged);
  }
  return week;
}

function dayIndex(code: string): number {
  return DAYS_OF_WEEK.findIndex((d) => d === code);
}

/** Sorted, disjoint union of intervals; empty ones are dropped. */
function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged[merged.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else merged.push({ start: i.start, end: i.end });
  }
  return merged;
}

/**
 * Calls `visit` with the instant intervals of every window on every local day that can touch
 * `range`, day by day. Within a day intervals come in window order; a fall-back day can make
 * them interleave, so consumers that need order sort afterwards.
 */
function forEachWindow(
  template: AvailabilityTemplate,
  rules: ZoneRules,
  range: Interval,
  visit: (window: Interval) => boolean | void,
): void {
  const week = weeklyWindows(template);
  // One day of margin on each side: a transition at local midnight can move a window across it.
  const lastDay = localDayOf(rules, range.end) + 1;
  for (let day = localDayOf(rules, range.start) - 1; day <= lastDay; day++) {
    const windows = week[weekdayOfLocalDay(day)] ?? [];
    const midnight = day * DAY_MS;
    for (const w of windows) {
      for (const interval of localSpanToInstants(rules, midnight + w.startMs, midnight + w.endMs)) {
        if (visit(interval) === false) return;
      }
    }
  }
}

function assertFiniteRange(range: Interval): void {
  if (!Number.isFinite(range.start) || !Number.isFinite(range.end)) {
    throw new RangeError('Slot generation needs a finite range (clip it to the horizon first)');
  }
}

/**
 * The instant intervals of the template's windows that overlap `range` (not clipped to it, not
 * reduced by notAvailable), sorted by start.
 */
export function availableWindows(template: AvailabilityTemplate, range: Interval): Interval[] {
  assertFiniteRange(range);
  if (!(range.end > range.start)) return [];
  const result: Interval[] = [];
  forEachWindow(template, zoneRules(template.timezone), range, (w) => {
    if (w.end > range.start && w.start < range.end) result.push(w);
  });
  return result.sort((a, b) => a.start - b.start);
}

/**
 * The first window whose end is after `from` (it may already have started), looking at most
 * `searchDays` ahead; undefined when there is none. Ignores notAvailable.
 */
export function nextAvailableWindow(template: AvailabilityTemplate, from: number, searchDays = 366): Interval | undefined {
  const rules = zoneRules(template.timezone);
  const limit = from + searchDays * DAY_MS;
  let best: Interval | undefined;
  forEachWindow(template, rules, { start: from, end: limit }, (w) => {
    if (w.end > from && w.start < limit && (best === undefined || w.start < best.start)) best = w;
    // Windows of later days start later than any of this one; stop a full day after a hit.
    return best === undefined || w.start < best.start + 2 * DAY_MS;
  });
  return best;
}

/**
 * The start/end instants of every slot the template yields inside `range` (epoch ms, already
 * clipped to the horizon): sorted, each fully inside the range and inside one window, none
 * overlapping another or a notAvailable period.
 */
export function generateSlotTimes(template: AvailabilityTemplate, range: Interval): Interval[] {
  assertFiniteRange(range);
  const slots: Interval[] = [];
  if (!(range.end > range.start)) return slots;
  const rules = zoneRules(template.timezone);
  const length = template.slotMinutes * MINUTE_MS;
  const blocked = mergeIntervals(template.notAvailable);
  let blockedIndex = 0;
  let previousStart = Number.NEGATIVE_INFINITY;
  let sorted = true;
  forEachWindow(template, rules, range, (w) => {
    if (w.end <= range.start || w.start >= range.end) return;
    // Stay on the window's grid: jump to the first slot boundary at or after the range start.
    let start = w.start < range.start ? w.start + Math.ceil((range.start - w.start) / length) * length : w.start;
    const stop = Math.min(w.end, range.end);
    for (; start + length <= stop; start += length) {
      if (start < previousStart) {
        sorted = false;
        blockedIndex = 0;
      }
      previousStart = start;
      let b = blocked[blockedIndex];
      while (b && b.end <= start) b = blocked[++blockedIndex];
      if (b && b.start < start + length) continue;
      slots.push({ start, end: start + length });
    }
  });
  if (!sorted) slots.sort((a, b) => a.start - b.start);
  return slots;
}

/** `schedule.planningHorizon` as instants in the template's zone (open ends are ±Infinity). */
export function planningHorizonOf(schedule: Schedule, rules: ZoneRules): Interval {
  return resolvePeriod(schedule.planningHorizon ?? {}, rules);
}

export interface SlotPlanInput {
  /** The Schedule as stored (its id is used in `Slot.schedule`). */
  schedule: Schedule & { id: string };
  /** Its parsed availability; undefined when it has none (then it gets no generated Slots). */
  template: AvailabilityTemplate | undefined;
  now: number;
  /** How far this run materialises: now + SLOT_HORIZON_DAYS, or a `$generate` `end`. */
  horizonEnd: number;
  /** Every Slot of this schedule from now on (Slots that started earlier are ignored). */
  existing: readonly Slot[];
  /**
   * Time already booked for one of the schedule's actors, buffers included: a new Slot that
   * overlaps it is created `busy` (SPEC §4.4).
   */
  booked?: readonly Interval[];
}

export interface SlotPlan {
  /** New Slots without id, sorted by start. */
  create: Slot[];
  /** Generated free Slots to delete (each with id and meta as read, for a conditional delete). */
  remove: Array<Slot & { id: string }>;
  /** Slot times of this run's range that already had a Slot at that start (of any kind). */
  unchanged: number;
  /** Slot times not created because a kept Slot with another start overlaps them. */
  skipped: number;
}

function sameCodes(a: readonly CodeableConcept[] | undefined, b: readonly CodeableConcept[] | undefined): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
}

/** Whether any interval of `sorted` (by start, with running max end) overlaps `[start, end)`. */
function overlapsAny(sorted: readonly Interval[], maxEnd: readonly number[], start: number, end: number): boolean {
  // Last interval starting before `end`.
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const candidate = sorted[mid];
    if (candidate !== undefined && candidate.start < end) lo = mid + 1;
    else hi = mid;
  }
  const reach = lo > 0 ? maxEnd[lo - 1] : undefined;
  return reach !== undefined && reach > start;
}

function withRunningMax(intervals: Interval[]): { sorted: Interval[]; maxEnd: number[] } {
  const sorted = intervals.sort((a, b) => a.start - b.start);
  const maxEnd: number[] = [];
  let running = Number.NEGATIVE_INFINITY;
  for (const i of sorted) {
    running = Math.max(running, i.end);
    maxEnd.push(running);
  }
  return { sorted, maxEnd };
}

/**
 * Plans one generator run for one Schedule: which Slots to create and which generated free Slots
 * to remove so that the future free generated Slots match the template over
 * `[max(now, planningHorizon.start), min(horizonEnd, planningHorizon.end))`. Idempotent: applying
 * the plan and planning again yields nothing to do. Never creates a Slot at a start where any Slot
 * of the schedule is kept, nor one overlapping a kept Slot (one Slot per schedule and start).
 */
export function planSlotChanges(input: SlotPlanInput): SlotPlan {
  const { schedule, template, now, horizonEnd, existing } = input;
  const generating = template !== undefined && schedule.active !== false;
  const rules = template ? zoneRules(template.timezone) : undefined;
  const horizon = rules ? planningHorizonOf(schedule, rules) : { start: now, end: now };
  const rangeStart = Math.max(now, horizon.start);
  const createEnd = Math.min(horizonEnd, horizon.end);

  interface Known {
    slot: Slot;
    start: number;
    end: number;
  }
  const candidates: Array<Known & { slot: Slot & { id: string } }> = [];
  const kept: Known[] = [];
  for (const slot of existing) {
    const start = Date.parse(slot.start);
    const end = Date.parse(slot.end);
    if (Number.isNaN(start) || Number.isNaN(end)) continue;
    const id = slot.id;
    if (id !== undefined && slot.status === 'free' && start >= now && isGeneratedSlot(slot)) {
      candidates.push({ slot: { ...slot, id }, start, end });
    } else {
      kept.push({ slot, start, end });
    }
  }

  // What fits is judged over every candidate too, not just this run's range, so a longer earlier
  // run (a `$generate` with a later `end`) is not undone while a template change still is.
  let fitEnd = createEnd;
  for (const c of candidates) fitEnd = Math.max(fitEnd, c.end);
  fitEnd = Math.min(fitEnd, horizon.end);
  const desired =
    generating && template && fitEnd > rangeStart && Number.isFinite(rangeStart)
      ? generateSlotTimes(template, { start: rangeStart, end: fitEnd })
      : [];
  const desiredEndByStart = new Map<number, number>();
  for (const d of desired) desiredEndByStart.set(d.start, d.end);

  const remove: Array<Slot & { id: string }> = [];
  for (const c of candidates) {
    const fits =
      desiredEndByStart.get(c.start) === c.end &&
      sameCodes(c.slot.serviceType, schedule.serviceType) &&
      sameCodes(c.slot.specialty, schedule.specialty) &&
      sameCodes(c.slot.serviceCategory, schedule.serviceCategory);
    if (fits) kept.push(c);
    else remove.push(c.slot);
  }

  const keptStarts = new Set(kept.map((k) => k.start));
  const keptIndex = withRunningMax(kept.map((k) => ({ start: k.start, end: k.end })));
  const bookedIndex = withRunningMax([...(input.booked ?? [])].map((b) => ({ start: b.start, end: b.end })));
  const buildSlot = slotBuilder(schedule);

  const create: Slot[] = [];
  let unchanged = 0;
  let skipped = 0;
  if (rules) {
    for (const d of desired) {
      if (d.end > createEnd) break;
      if (keptStarts.has(d.start)) {
        unchanged++;
        continue;
      }
      if (overlapsAny(keptIndex.sorted, keptIndex.maxEnd, d.start, d.end)) {
        skipped++;
        continue;
      }
      const busy = overlapsAny(bookedIndex.sorted, bookedIndex.maxEnd, d.start, d.end);
      create.push(buildSlot(d, busy ? 'busy' : 'free', rules));
    }
  }
  return { create, remove, unchanged, skipped };
}

/**
 * Slot boundary texts by zone and instant, across runs (bounded like `instantCache`): the
 * Schedules of a clinic share their Slot times, so their Slots share the texts, which are then
 * flat and hashed once (`instantValues` looks them up) rather than built per Slot.
 */
const instantTexts = new WeakMap<ZoneRules, Map<number, string>>();
/** Entries each instant cache holds before it is emptied (a 90-day horizon of 15-minute Slots is ~8,600 instants). */
const INSTANT_CACHE_SIZE = 20_000;

function instantText(instant: number, rules: ZoneRules): string {
  let texts = instantTexts.get(rules);
  if (texts === undefined) {
    texts = new Map();
    instantTexts.set(rules, texts);
  }
  let text = texts.get(instant);
  if (text === undefined) {
    if (texts.size >= INSTANT_CACHE_SIZE) texts.clear();
    text = formatInstant(instant, rules);
    texts.set(instant, text);
  }
  return text;
}

/**
 * Builds the Slots of one schedule. The codes are captured once (a JSON round trip, so no Slot
 * shares an object with the Schedule) and frozen, and every Slot of the run shares them: copying
 * them per Slot was a tenth of the generator's own time and garbage.
 */
function slotBuilder(schedule: Schedule & { id: string }): (time: Interval, status: 'free' | 'busy', rules: ZoneRules) => Slot {
  const codes = deepFreeze(
    JSON.parse(
      JSON.stringify({
        serviceCategory: schedule.serviceCategory,
        serviceType: schedule.serviceType,
        specialty: schedule.specialty,
      }),
    ) as Pick<Slot, 'serviceCategory' | 'serviceType' | 'specialty'>,
  );
  // Shared by the run's Slots and frozen too: a Slot is given its own top-level members only.
  const meta = deepFreeze({ tag: [{ ...GENERATED_SLOT_TAG }] });
  const reference = deepFreeze({ reference: `Schedule/${schedule.id}` });
  return (time, status, rules) => {
    const slot: Slot = {
      resourceType: 'Slot',
      meta,
      schedule: reference,
      status,
      start: instantText(time.start, rules),
      end: instantText(time.end, rules),
    };
    if (codes.serviceCategory && codes.serviceCategory.length > 0) slot.serviceCategory = codes.serviceCategory;
    if (codes.serviceType && codes.serviceType.length > 0) slot.serviceType = codes.serviceType;
    if (codes.specialty && codes.specialty.length > 0) slot.specialty = codes.specialty;
    return slot;
  };
}

/** Stand-ins for a Slot's own values in a prototype's JSON text (a control character: no real value looks like it). */
const MARK = { id: '\u0001id', start: '\u0001start', end: '\u0001end', extension: '\u0001extension' } as const;

/** `text` cut at each of `marks` (JSON-quoted), in order, each found once; undefined otherwise. */
function cutAt(text: string, marks: readonly string[]): string[] | undefined {
  const parts: string[] = [];
  let from = 0;
  for (const mark of marks) {
    const quoted = JSON.stringify(mark);
    const at = text.indexOf(quoted, from);
    if (at < 0 || text.indexOf(quoted, at + quoted.length) >= 0) return undefined;
    parts.push(text.slice(from, at));
    from = at + quoted.length;
  }
  parts.push(text.slice(from));
  return parts;
}

/**
 * What the Slot writes need of one boundary instant: its search range, that range's JSON text (as
 * JSON.stringify writes `[range]`: dateRange gives finite integers, `lo` first) and its `lo` as
 * text (the sort key). Turning a 13-digit number into text is a dtoa each time, so each is made
 * once per instant.
 */
interface InstantValues {
  readonly range: DateRange;
  readonly rangeJson: string;
  readonly loText: string;
}

/**
 * InstantValues by instant text, across runs: the Schedules of a clinic mostly share their Slot
 * times, so the whole clinic's Slots share the texts (and the heap their entries' search texts
 * hold). Emptied when full (INSTANT_CACHE_SIZE), so it stays small whatever the instants.
 */
const instantCache = new Map<string, InstantValues | null>();

/** The instant's values; undefined when dateRange cannot read it. */
function instantValues(instant: string): InstantValues | undefined {
  const cached = instantCache.get(instant);
  if (cached !== undefined) return cached ?? undefined;
  const range = dateRange(instant);
  let values: InstantValues | null = null;
  if (range !== undefined) {
    const loText = String(range.lo);
    // Frozen: every Slot at this instant shares it.
    values = Object.freeze({ range: Object.freeze(range), rangeJson: `[{"lo":${loText},"hi":${range.hi}}]`, loText });
  }
  if (instantCache.size >= INSTANT_CACHE_SIZE) instantCache.clear();
  instantCache.set(instant, values);
  return values ?? undefined;
}

/**
 * The first version of one kind of generated Slot (status, with or without `extension`) of one
 * run, made once by the generic path (nextVersion, indexResource, JSON.stringify) and cut where
 * the per-Slot values go. The shared parts are frozen: every Slot of the run points at them.
 */
interface SlotTemplate {
  resource: StoredFhirResource;
  s: SearchIndex;
  o: SortKeys;
  /** Text before the id, start, end (and extension), and after the last. */
  resourceJson: string[];
  /** Text around `s.start` and `s.end`. */
  sJson: string[];
  /** Text around `o.start` and `o.end`. */
  oJson: string[];
}

function slotTemplate(prototype: Slot, lastUpdated: number): SlotTemplate | undefined {
  const withExtension = prototype.extension !== undefined;
  const marked: Slot = { ...prototype, start: MARK.start, end: MARK.end };
  if (withExtension) marked.extension = MARK.extension as unknown as Slot['extension'];
  const version = nextVersion('Slot', MARK.id, marked as StoredFhirResource, 'POST', undefined, lastUpdated);
  // The search values need real instants; only `start` and `end` depend on them (a test holds the
  // template to the generic path for ordinary, busy and daylight-saving Slots).
  const { s, o } = nextVersion('Slot', MARK.id, prototype as StoredFhirResource, 'POST', undefined, lastUpdated);
  const resourceJson = cutAt(JSON.stringify(version.resource), withExtension ? [MARK.id, MARK.start, MARK.end, MARK.extension] : [MARK.id, MARK.start, MARK.end]);
  const sJson = cutAt(JSON.stringify({ ...s, start: MARK.start, end: MARK.end }), [MARK.start, MARK.end]);
  const oJson = cutAt(JSON.stringify({ ...o, start: MARK.start, end: MARK.end }), [MARK.start, MARK.end]);
  if (version.resource === null || resourceJson === undefined || sJson === undefined || oJson === undefined) return undefined;
  return { resource: deepFreeze(version.resource), s: deepFreeze(s), o: Object.freeze(o), resourceJson, sJson, oJson };
}

/**
 * A Slot's sort keys: the template's with its own `start` and `end`, in the template's key order,
 * frozen, so the store keeps this object rather than a copy (entry.ts freezeSortKeys). Assigned
 * key by key: V8 lays a spread copy out more than twice as large.
 */
function sortKeys(template: SortKeys, start: number, end: number): SortKeys {
  const o: SortKeys = {};
  for (const key of Object.keys(template)) {
    const value = template[key];
    if (value !== undefined) o[key] = key === 'start' ? start : key === 'end' ? end : value;
  }
  return Object.freeze(o);
}

/**
 * Writes for the new Slots of one generator run (`planSlotChanges`' `create`, with `extension`
 * set on busy ones): each the first version, as `nextVersion` would make it, with its JSON text
 * (store.ts ResourceWrite `json`) filled into a per-run template instead of indexing and
 * stringifying each Slot — they differ only in id, start, end, status and blockers. Nested
 * values are shared between the writes and frozen.
 */
export function slotWriter(schedule: Schedule & { id: string }, lastUpdated: number): (slot: Slot, id: string) => ResourceWrite {
  const buildSlot = slotBuilder(schedule);
  const rules = zoneRules('UTC');
  const templates = new Map<string, SlotTemplate | undefined>();
  return (slot, id) => {
    const withExtension = slot.extension !== undefined;
    const kind = withExtension ? `${slot.status}+extension` : slot.status;
    let template = templates.get(kind);
    if (!templates.has(kind)) {
      const prototype = buildSlot({ start: 0, end: MINUTE_MS }, slot.status === 'busy' ? 'busy' : 'free', rules);
      prototype.status = slot.status;
      if (withExtension) prototype.extension = [];
      template = slotTemplate(prototype, lastUpdated);
      templates.set(kind, template);
    }
    const start = instantValues(slot.start);
    const end = instantValues(slot.end);
    if (template === undefined || start === undefined || end === undefined) {
      // A Schedule code containing a mark (no template), or an instant dateRange cannot read: the generic path.
      return nextVersion('Slot', id, slot as StoredFhirResource, 'POST', undefined, lastUpdated);
    }
    const r = template.resourceJson;
    // Instants dateRange accepts are digits and `-:.+TZ`: nothing JSON escapes.
    let resourceJson = `${r[0]}${JSON.stringify(id)}${r[1]}"${slot.start}"${r[2]}"${slot.end}"${r[3]}`;
    const resource = { ...template.resource, id, start: slot.start, end: slot.end } as StoredFhirResource & Slot;
    if (withExtension) {
      resource.extension = slot.extension;
      resourceJson += `${JSON.stringify(slot.extension)}${r[4]}`;
    }
    const sj = template.sJson;
    const oj = template.oJson;
    return {
      resourceType: 'Slot',
      id,
      method: 'POST',
      resource,
      versionId: 1,
      lastUpdated,
      previousVersionId: 0,
      s: { ...template.s, start: [start.range], end: [end.range] },
      o: sortKeys(template.o, start.range.lo, end.range.lo),
      json: {
        resource: resourceJson,
        s: `${sj[0]}${start.rangeJson}${sj[1]}${end.rangeJson}${sj[2]}`,
        o: `${oj[0]}${start.loText}${oj[1]}${end.loText}${oj[2]}`,
      },
    };
  };
}
