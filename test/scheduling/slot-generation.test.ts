import type { Schedule, Slot } from 'fhir/r4';
import type { StoredFhirResource } from '../../src/fhir/resource-types';
import { blockedByExtension, parseAvailability } from '../../src/scheduling/availability';
import { encodeWrite } from '../../src/store/embedded/write-codec';
import { nextVersion } from '../../src/store/resource-write';
import type { ResourceWrite } from '../../src/store/store';
import type { AvailabilityTemplate } from '../../src/scheduling/availability';
import {
  GENERATED_SLOT_TAG,
  availableWindows,
  generateSlotTimes,
  isGeneratedSlot,
  nextAvailableWindow,
  planSlotChanges,
  slotWriter,
} from '../../src/scheduling/slot-generation';
import type { SlotPlan, SlotPlanInput } from '../../src/scheduling/slot-generation';
import { formatInstant, zoneRules } from '../../src/scheduling/time';
import { GP, makeSchedule, makeSlot } from './schedule-builder';
import type { ScheduleInput } from './schedule-builder';

const at = (iso: string): number => Date.parse(iso);
const DAY = 86_400_000;

function templateOf(input: ScheduleInput): AvailabilityTemplate {
  const template = parseAvailability(makeSchedule(input));
  if (!template) throw new Error('builder made a schedule without availability');
  return template;
}

/** Slot starts as the generator writes them (zone offset), over one local day. */
function startsOn(input: ScheduleInput, day: string, offset: string): string[] {
  const template = templateOf(input);
  const rules = zoneRules(template.timezone);
  const start = at(`${day}T00:00:00${offset}`);
  return generateSlotTimes(template, { start: start - DAY, end: start + 2 * DAY })
    .filter((s) => formatInstant(s.start, rules).startsWith(day))
    .map((s) => formatInstant(s.start, rules));
}

function expectBackToBack(slots: Array<{ start: number; end: number }>): void {
  for (let i = 1; i < slots.length; i++) {
    const previous = slots[i - 1];
    const current = slots[i];
    expect(previous && current && previous.end <= current.start).toBe(true);
  }
}

describe('generateSlotTimes: daylight-saving time', () => {
  it('yields only Slots whose local time exists on the America/New_York spring-forward day (01:00–04:00)', () => {
    const input = { timezone: 'America/New_York', availableTime: [{ days: ['sun'], start: '01:00:00', end: '04:00:00' }] };
    expect(startsOn(input, '2027-03-14', '-05:00')).toEqual([
      '2027-03-14T01:00:00-05:00',
      '2027-03-14T01:15:00-05:00',
      '2027-03-14T01:30:00-05:00',
      '2027-03-14T01:45:00-05:00',
      '2027-03-14T03:00:00-04:00',
      '2027-03-14T03:15:00-04:00',
      '2027-03-14T03:30:00-04:00',
      '2027-03-14T03:45:00-04:00',
    ]);
  });

  it('lays hour Slots back to back in real time across the spring-forward gap', () => {
    const template = templateOf({
      timezone: 'America/New_York',
      slotMinutes: 60,
      availableTime: [{ days: ['sun'], start: '01:00:00', end: '04:00:00' }],
    });
    expect(generateSlotTimes(template, { start: at('2027-03-14T00:00:00-05:00'), end: at('2027-03-15T00:00:00-04:00') })).toEqual([
      { start: at('2027-03-14T01:00:00-05:00'), end: at('2027-03-14T03:00:00-04:00') },
      { start: at('2027-03-14T03:00:00-04:00'), end: at('2027-03-14T04:00:00-04:00') },
    ]);
  });

  it('covers four real hours with non-overlapping Slots on the America/New_York fall-back day (00:00–03:00)', () => {
    const template = templateOf({ timezone: 'America/New_York', availableTime: [{ days: ['sun'], start: '00:00:00', end: '03:00:00' }] });
    const slots = generateSlotTimes(template, { start: at('2026-10-31T00:00:00-04:00'), end: at('2026-11-02T00:00:00-05:00') });
    expect(slots).toHaveLength(16);
    expect(slots[0]).toEqual({ start: at('2026-11-01T00:00:00-04:00'), end: at('2026-11-01T00:15:00-04:00') });
    expect(slots[15]).toEqual({ start: at('2026-11-01T02:45:00-05:00'), end: at('2026-11-01T03:00:00-05:00') });
    expectBackToBack(slots);
    const rules = zoneRules('America/New_York');
    expect(slots.slice(6, 10).map((s) => formatInstant(s.start, rules))).toEqual([
      '2026-11-01T01:30:00-04:00',
      '2026-11-01T01:45:00-04:00',
      '2026-11-01T01:00:00-05:00',
      '2026-11-01T01:15:00-05:00',
    ]);
  });

  it('yields no 03:xx Slot on the Europe/Athens spring-forward day (02:00–05:00)', () => {
    expect(startsOn({ availableTime: [{ days: ['sun'], start: '02:00:00', end: '05:00:00' }] }, '2027-03-28', '+02:00')).toEqual([
      '2027-03-28T02:00:00+02:00',
      '2027-03-28T02:15:00+02:00',
      '2027-03-28T02:30:00+02:00',
      '2027-03-28T02:45:00+02:00',
      '2027-03-28T04:00:00+03:00',
      '2027-03-28T04:15:00+03:00',
      '2027-03-28T04:30:00+03:00',
      '2027-03-28T04:45:00+03:00',
    ]);
  });

  it('covers the repeated hour twice on the Europe/Athens fall-back day (02:00–05:00 = four real hours)', () => {
    const template = templateOf({ slotMinutes: 60, availableTime: [{ days: ['sun'], start: '02:00:00', end: '05:00:00' }] });
    const rules = zoneRules('Europe/Athens');
    const slots = generateSlotTimes(template, { start: at('2026-10-24T00:00:00+03:00'), end: at('2026-10-26T00:00:00+02:00') });
    expect(slots.map((s) => `${formatInstant(s.start, rules)}/${formatInstant(s.end, rules)}`)).toEqual([
      '2026-10-25T02:00:00+03:00/2026-10-25T03:00:00+03:00',
      '2026-10-25T03:00:00+03:00/2026-10-25T03:00:00+02:00',
      '2026-10-25T03:00:00+02:00/2026-10-25T04:00:00+02:00',
      '2026-10-25T04:00:00+02:00/2026-10-25T05:00:00+02:00',
    ]);
  });

  it('yields nothing for a window that lies entirely in the spring-forward gap', () => {
    expect(startsOn({ availableTime: [{ days: ['sun'], start: '03:00:00', end: '04:00:00' }] }, '2027-03-28', '+02:00')).toEqual([]);
  });

  it('lays allDay Slots over the real length of DST days (23 and 25 hours)', () => {
    const template = templateOf({ timezone: 'America/New_York', slotMinutes: 60, availableTime: [{ days: ['sun'], allDay: true }] });
    const spring = generateSlotTimes(template, { start: at('2027-03-14T00:00:00-05:00'), end: at('2027-03-15T00:00:00-04:00') });
    const fall = generateSlotTimes(template, { start: at('2026-11-01T00:00:00-04:00'), end: at('2026-11-02T00:00:00-05:00') });
    expect(spring).toHaveLength(23);
    expect(fall).toHaveLength(25);
    expectBackToBack(fall);
  });

  it('keeps time sorted and non-overlapping when two windows meet inside the repeated hour', () => {
    const template = templateOf({
      timezone: 'America/New_York',
      availableTime: [
        { days: ['sun'], start: '00:00:00', end: '01:30:00' },
        { days: ['sun'], start: '01:30:00', end: '03:00:00' },
      ],
    });
    const slots = generateSlotTimes(template, { start: at('2026-11-01T00:00:00-04:00'), end: at('2026-11-02T00:00:00-05:00') });
    expect(slots).toHaveLength(16);
    expectBackToBack(slots);
  });
});

describe('generateSlotTimes: templates', () => {
  // 2026-06-01 is a Monday; Athens is at +03:00 in summer.
  const monday = { start: at('2026-06-01T00:00:00+03:00'), end: at('2026-06-02T00:00:00+03:00') };
  const hours = (...list: string[]): number[] => list.map((h) => at(`2026-06-01T${h}:00+03:00`));

  it('lays Slots for split shifts (08:00–12:00 and 14:00–18:00)', () => {
    const template = templateOf({
      slotMinutes: 60,
      availableTime: [
        { days: ['mon', 'tue'], start: '08:00:00', end: '12:00:00' },
        { days: ['mon'], start: '14:00:00', end: '18:00:00' },
      ],
    });
    expect(generateSlotTimes(template, monday).map((s) => s.start)).toEqual(
      hours('08:00', '09:00', '10:00', '11:00', '14:00', '15:00', '16:00', '17:00'),
    );
  });

  it('lays Slots over the whole day for allDay', () => {
    const template = templateOf({ slotMinutes: 480, availableTime: [{ days: ['mon'], allDay: true }] });
    expect(generateSlotTimes(template, monday).map((s) => s.start)).toEqual(hours('00:00', '08:00', '16:00'));
  });

  it('applies a window without daysOfWeek to every day and uses 15-minute Slots by default', () => {
    const template = templateOf({ availableTime: [{ start: '09:00:00', end: '10:00:00' }] });
    const week = generateSlotTimes(template, { start: monday.start, end: monday.start + 7 * DAY });
    expect(week).toHaveLength(7 * 4);
    expect(week[1]).toEqual({ start: at('2026-06-01T09:15:00+03:00'), end: at('2026-06-01T09:30:00+03:00') });
  });

  it('yields nothing for a remainder shorter than a Slot', () => {
    const template = templateOf({ slotMinutes: 30, availableTime: [{ days: ['mon'], start: '08:00:00', end: '09:50:00' }] });
    expect(generateSlotTimes(template, monday)).toEqual([
      { start: at('2026-06-01T08:00:00+03:00'), end: at('2026-06-01T08:30:00+03:00') },
      { start: at('2026-06-01T08:30:00+03:00'), end: at('2026-06-01T09:00:00+03:00') },
      { start: at('2026-06-01T09:00:00+03:00'), end: at('2026-06-01T09:30:00+03:00') },
    ]);
  });

  it('merges overlapping windows of one day instead of producing overlapping Slots', () => {
    const template = templateOf({
      slotMinutes: 60,
      availableTime: [
        { days: ['mon'], start: '08:00:00', end: '11:00:00' },
        { days: ['mon'], start: '10:00:00', end: '12:00:00' },
      ],
    });
    expect(generateSlotTimes(template, monday).map((s) => s.start)).toEqual(hours('08:00', '09:00', '10:00', '11:00'));
  });

  it('skips a holiday given as a date (notAvailable)', () => {
    const template = templateOf({
      slotMinutes: 60,
      availableTime: [{ days: ['thu', 'fri', 'mon'], start: '09:00:00', end: '11:00:00' }],
      notAvailable: [{ description: 'Christmas', start: '2026-12-25', end: '2026-12-25' }],
    });
    const slots = generateSlotTimes(template, { start: at('2026-12-24T00:00:00+02:00'), end: at('2026-12-29T00:00:00+02:00') });
    expect(slots.map((s) => s.start)).toEqual([
      at('2026-12-24T09:00:00+02:00'),
      at('2026-12-24T10:00:00+02:00'),
      at('2026-12-28T09:00:00+02:00'),
      at('2026-12-28T10:00:00+02:00'),
    ]);
  });

  it('drops every Slot overlapping a blocked afternoon and keeps the grid after it', () => {
    const template = templateOf({
      slotMinutes: 60,
      availableTime: [{ days: ['mon'], start: '08:00:00', end: '18:00:00' }],
      notAvailable: [{ description: 'Staff meeting', start: '2026-06-01T13:00:00+03:00', end: '2026-06-01T15:30:00+03:00' }],
    });
    expect(generateSlotTimes(template, monday).map((s) => s.start)).toEqual(
      hours('08:00', '09:00', '10:00', '11:00', '12:00', '16:00', '17:00'),
    );
  });

  it('treats a notAvailable period without end as open-ended', () => {
    const template = templateOf({
      slotMinutes: 60,
      availableTime: [{ days: ['mon'], start: '08:00:00', end: '12:00:00' }],
      notAvailable: [{ description: 'Retired', start: '2026-06-01T10:00:00+03:00' }],
    });
    expect(generateSlotTimes(template, { start: monday.start, end: monday.start + 14 * DAY }).map((s) => s.start)).toEqual(hours('08:00', '09:00'));
  });

  it('keeps every Slot fully inside the range, on the window grid', () => {
    const template = templateOf({ slotMinutes: 30, availableTime: [{ days: ['mon'], start: '08:00:00', end: '12:00:00' }] });
    const slots = generateSlotTimes(template, { start: at('2026-06-01T09:10:00+03:00'), end: at('2026-06-01T10:45:00+03:00') });
    expect(slots.map((s) => s.start)).toEqual([at('2026-06-01T09:30:00+03:00'), at('2026-06-01T10:00:00+03:00')]);
  });

  it('refuses an infinite range', () => {
    const template = templateOf({ availableTime: [{ days: ['mon'], start: '08:00:00', end: '12:00:00' }] });
    expect(() => generateSlotTimes(template, { start: 0, end: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });
});

describe('window helpers', () => {
  const template = templateOf({
    availableTime: [
      { days: ['mon'], start: '08:00:00', end: '12:00:00' },
      { days: ['wed'], start: '14:00:00', end: '18:00:00' },
    ],
  });

  it('lists the windows overlapping a range', () => {
    expect(availableWindows(template, { start: at('2026-06-01T10:00:00+03:00'), end: at('2026-06-04T00:00:00+03:00') })).toEqual([
      { start: at('2026-06-01T08:00:00+03:00'), end: at('2026-06-01T12:00:00+03:00') },
      { start: at('2026-06-03T14:00:00+03:00'), end: at('2026-06-03T18:00:00+03:00') },
    ]);
  });

  it('finds the window in progress, then the next one', () => {
    expect(nextAvailableWindow(template, at('2026-06-01T09:00:00+03:00'))).toEqual({
      start: at('2026-06-01T08:00:00+03:00'),
      end: at('2026-06-01T12:00:00+03:00'),
    });
    expect(nextAvailableWindow(template, at('2026-06-01T12:00:00+03:00'))).toEqual({
      start: at('2026-06-03T14:00:00+03:00'),
      end: at('2026-06-03T18:00:00+03:00'),
    });
  });

  it('returns undefined when there is no window within the search span', () => {
    const empty = templateOf({ availableTime: [] });
    expect(nextAvailableWindow(empty, at('2026-06-01T00:00:00Z'), 30)).toBeUndefined();
  });
});

describe('planSlotChanges', () => {
  // Monday 2026-06-01, 07:00 in Athens.
  const now = at('2026-06-01T07:00:00+03:00');
  const weekly = {
    slotMinutes: 60,
    serviceType: [GP],
    availableTime: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00:00', end: '12:00:00' }],
  };

  function plan(schedule: Schedule & { id: string }, existing: Slot[] = [], extra: Partial<SlotPlanInput> = {}): SlotPlan {
    return planSlotChanges({ schedule, template: parseAvailability(schedule), now, horizonEnd: now + 7 * DAY, existing, ...extra });
  }

  /** The store after applying a plan: removed Slots deleted, new ones given ids. */
  function apply(existing: Slot[], result: SlotPlan): Slot[] {
    const removed = new Set(result.remove.map((s) => s.id));
    return [...existing.filter((s) => s.id === undefined || !removed.has(s.id)), ...result.create.map((s, i) => ({ ...s, id: `new-${i}` }))];
  }

  it('creates tagged free Slots carrying the Schedule codes, in the zone offset, without ids', () => {
    const schedule = makeSchedule({ ...weekly, specialty: [{ text: 'General practice' }], serviceCategory: [{ text: 'Primary care' }] });
    const result = plan(schedule);
    expect(result.create).toHaveLength(5 * 3);
    expect(result.create[0]).toEqual({
      resourceType: 'Slot',
      meta: { tag: [GENERATED_SLOT_TAG] },
      schedule: { reference: 'Schedule/dr-a' },
      status: 'free',
      start: '2026-06-01T09:00:00+03:00',
      end: '2026-06-01T10:00:00+03:00',
      serviceType: [GP],
      specialty: [{ text: 'General practice' }],
      serviceCategory: [{ text: 'Primary care' }],
    });
    expect(result.create[0]?.serviceType).not.toBe(schedule.serviceType);
    expect(result.create.every(isGeneratedSlot)).toBe(true);
    expect(result.remove).toEqual([]);
  });

  it('is idempotent: planning again after applying the plan creates and removes nothing', () => {
    const schedule = makeSchedule(weekly);
    const first = plan(schedule);
    const second = plan(schedule, apply([], first));
    expect(second).toEqual({ create: [], remove: [], unchanged: first.create.length, skipped: 0 });
  });

  it('creates nothing before now or past horizonEnd', () => {
    const result = plan(makeSchedule(weekly), [], { now: at('2026-06-01T10:30:00+03:00'), horizonEnd: at('2026-06-02T11:00:00+03:00') });
    expect(result.create.map((s) => s.start)).toEqual([
      '2026-06-01T11:00:00+03:00',
      '2026-06-02T09:00:00+03:00',
      '2026-06-02T10:00:00+03:00',
    ]);
  });

  it('clips to a planningHorizon with an open start (end date includes that day)', () => {
    const result = plan(makeSchedule({ ...weekly, planningHorizon: { end: '2026-06-02' } }));
    expect(result.create.map((s) => s.start)).toEqual([
      '2026-06-01T09:00:00+03:00',
      '2026-06-01T10:00:00+03:00',
      '2026-06-01T11:00:00+03:00',
      '2026-06-02T09:00:00+03:00',
      '2026-06-02T10:00:00+03:00',
      '2026-06-02T11:00:00+03:00',
    ]);
  });

  it('clips to a planningHorizon with an open end, up to horizonEnd', () => {
    const result = plan(makeSchedule({ ...weekly, planningHorizon: { start: '2026-06-05T10:00:00+03:00' } }), [], {
      horizonEnd: at('2026-06-09T00:00:00+03:00'),
    });
    expect(result.create.map((s) => s.start)).toEqual([
      '2026-06-05T10:00:00+03:00',
      '2026-06-05T11:00:00+03:00',
      '2026-06-08T09:00:00+03:00',
      '2026-06-08T10:00:00+03:00',
      '2026-06-08T11:00:00+03:00',
    ]);
  });

  it('gives an inactive Schedule no new free Slots and removes its future free generated ones', () => {
    const free = makeSlot('2026-06-02T09:00:00+03:00', '2026-06-02T10:00:00+03:00', 'free');
    const busy = makeSlot('2026-06-02T10:00:00+03:00', '2026-06-02T11:00:00+03:00', 'busy');
    const result = plan(makeSchedule({ ...weekly, active: false }), [free, busy]);
    expect(result.create).toEqual([]);
    expect(result.remove.map((s) => s.id)).toEqual([free.id]);
  });

  it('removes the future free generated Slots of a Schedule that lost its template', () => {
    const schedule = makeSchedule(weekly);
    const free = makeSlot('2026-06-02T09:00:00+03:00', '2026-06-02T10:00:00+03:00', 'free');
    const result = planSlotChanges({ schedule, template: undefined, now, horizonEnd: now + 7 * DAY, existing: [free] });
    expect(result).toEqual({ create: [], remove: [free], unchanged: 0, skipped: 0 });
  });

  it('on a template change removes free generated Slots that no longer fit and keeps busy, hand-made and past ones', () => {
    // Was 09:00–12:00 hourly; becomes 10:00–12:00 in 30-minute Slots, Monday only.
    const schedule = makeSchedule({ ...weekly, slotMinutes: 30, availableTime: [{ days: ['mon'], start: '10:00:00', end: '12:00:00' }] });
    const past = makeSlot('2026-06-01T06:00:00+03:00', '2026-06-01T07:00:00+03:00', 'free');
    const oldFree = makeSlot('2026-06-01T09:00:00+03:00', '2026-06-01T10:00:00+03:00', 'free');
    const oldFreeSameStart = makeSlot('2026-06-01T10:00:00+03:00', '2026-06-01T11:00:00+03:00', 'free');
    const booked = makeSlot('2026-06-01T11:00:00+03:00', '2026-06-01T12:00:00+03:00', 'busy');
    const tentative = makeSlot('2026-06-02T09:00:00+03:00', '2026-06-02T10:00:00+03:00', 'busy-tentative');
    const unavailable = makeSlot('2026-06-02T10:00:00+03:00', '2026-06-02T11:00:00+03:00', 'busy-unavailable');
    const inError = makeSlot('2026-06-02T11:00:00+03:00', '2026-06-02T12:00:00+03:00', 'entered-in-error');
    const handMade = makeSlot('2026-06-03T09:00:00+03:00', '2026-06-03T10:00:00+03:00', 'free', { handMade: true });
    const existing = [past, oldFree, oldFreeSameStart, booked, tentative, unavailable, inError, handMade];
    const result = plan(schedule, existing, { horizonEnd: at('2026-06-09T00:00:00+03:00') });

    expect(result.remove.map((s) => s.id).sort()).toEqual([oldFree.id, oldFreeSameStart.id].sort());
    // 11:00 and 11:30 overlap the busy Slot: 11:00 shares its start, 11:30 lies inside it.
    expect(result.create.map((s) => s.start)).toEqual([
      '2026-06-01T10:00:00+03:00',
      '2026-06-01T10:30:00+03:00',
      '2026-06-08T10:00:00+03:00',
      '2026-06-08T10:30:00+03:00',
      '2026-06-08T11:00:00+03:00',
      '2026-06-08T11:30:00+03:00',
    ]);
    expect(result.unchanged).toBe(1);
    expect(result.skipped).toBe(1);
    const again = plan(schedule, apply(existing, result), { horizonEnd: at('2026-06-09T00:00:00+03:00') });
    expect(again.create).toEqual([]);
    expect(again.remove).toEqual([]);
  });

  it('never creates a Slot where a hand-made Slot of the schedule already starts', () => {
    const handMade = makeSlot('2026-06-01T09:00:00+03:00', '2026-06-01T09:20:00+03:00', 'free', { handMade: true });
    const result = plan(makeSchedule({ ...weekly, availableTime: [{ days: ['mon'], start: '09:00:00', end: '11:00:00' }] }), [handMade]);
    expect(result.create.map((s) => s.start)).toEqual(['2026-06-01T10:00:00+03:00']);
    expect(result.unchanged).toBe(1);
  });

  it('replaces free generated Slots when the Schedule serviceType changes', () => {
    const schedule = makeSchedule({ ...weekly, availableTime: [{ days: ['mon'], start: '09:00:00', end: '10:00:00' }] });
    const old = { ...makeSlot('2026-06-01T09:00:00+03:00', '2026-06-01T10:00:00+03:00', 'free'), serviceType: [{ text: 'old' }] };
    const result = plan(schedule, [old], { horizonEnd: at('2026-06-02T00:00:00+03:00') });
    expect(result.remove.map((s) => s.id)).toEqual([old.id]);
    expect(result.create.map((s) => [s.start, s.serviceType])).toEqual([['2026-06-01T09:00:00+03:00', [GP]]]);
  });

  it('keeps generated Slots beyond this run’s horizonEnd that still fit', () => {
    const schedule = makeSchedule(weekly);
    const later = { ...makeSlot('2026-07-01T09:00:00+03:00', '2026-07-01T10:00:00+03:00', 'free'), serviceType: [GP] };
    const result = plan(schedule, [later]);
    expect(result.remove).toEqual([]);
  });

  it('creates busy the Slots that overlap time already booked for an actor', () => {
    const schedule = makeSchedule({ ...weekly, availableTime: [{ days: ['mon'], start: '09:00:00', end: '12:00:00' }] });
    const result = plan(schedule, [], {
      horizonEnd: at('2026-06-02T00:00:00+03:00'),
      booked: [{ start: at('2026-06-01T10:30:00+03:00'), end: at('2026-06-01T10:45:00+03:00') }],
    });
    expect(result.create.map((s) => `${s.start.slice(11, 16)} ${s.status}`)).toEqual(['09:00 free', '10:00 busy', '11:00 free']);
  });
});

describe('slotWriter: the per-run template gives what the generic path gives', () => {
  // Athens falls back on 25 October 2026, New York on 1 November: both inside a 20-day run.
  const now = at('2026-10-20T07:00:00+03:00');
  const CODED = {
    serviceType: [GP, { coding: [{ system: 'http://example.org/s', code: 'x', display: 'Ünder "quotes"' }], text: 'Tab\there' }],
    specialty: [{ text: 'General practice' }],
    serviceCategory: [{ coding: [{ code: 'no-system' }] }],
  };

  /** Every write of a plan, each compared with nextVersion's (resource, s, o, their JSON, the journal line). */
  function expectGenericOutput(
    input: ScheduleInput,
    booked: Array<{ start: number; end: number; appointment: string }> = [],
    days = 20,
    from = now,
  ): ResourceWrite[] {
    const schedule = makeSchedule(input);
    const plan = planSlotChanges({ schedule, template: parseAvailability(schedule), now: from, horizonEnd: from + days * DAY, existing: [], booked });
    const write = slotWriter(schedule, from);
    const writes = plan.create.map((slot, i) => {
      if (slot.status === 'busy') {
        const s = Date.parse(slot.start);
        const e = Date.parse(slot.end);
        slot.extension = booked.filter((b) => b.start < e && b.end > s).map((b) => blockedByExtension({ reference: b.appointment }));
      }
      const id = `slot-${i}`;
      const fast = write(slot, id);
      const generic = nextVersion('Slot', id, slot as StoredFhirResource, 'POST', undefined, from);
      const { json, ...rest } = fast;
      expect(rest).toEqual(generic);
      expect(JSON.stringify(fast.resource)).toBe(JSON.stringify(generic.resource));
      expect(JSON.stringify(fast.s)).toBe(JSON.stringify(generic.s));
      expect(JSON.stringify(fast.o)).toBe(JSON.stringify(generic.o));
      if (json !== undefined) {
        expect(json.resource).toBe(JSON.stringify(generic.resource));
        expect(json.s).toBe(JSON.stringify(generic.s));
        expect(json.o).toBe(JSON.stringify(generic.o));
      }
      expect(encodeWrite(fast).line.equals(encodeWrite(generic).line)).toBe(true);
      return fast;
    });
    expect(writes.length).toBeGreaterThan(0);
    return writes;
  }

  it('ordinary free Slots with every kind of Schedule code', () => {
    const writes = expectGenericOutput({ ...CODED, slotMinutes: 15, availableTime: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00:00', end: '16:00:00' }] });
    expect(writes.every((w) => w.json !== undefined)).toBe(true);
  });

  it('ordinary Slots of a Schedule without codes', () => {
    expectGenericOutput({ slotMinutes: 30, availableTime: [{ start: '09:00:00', end: '12:00:00' }] });
  });

  it('busy Slots with their blocked-by extensions, between free ones', () => {
    const writes = expectGenericOutput({ ...CODED, slotMinutes: 20, availableTime: [{ start: '09:00:00', end: '12:00:00' }] }, [
      { start: at('2026-11-02T09:30:00+02:00'), end: at('2026-11-02T10:10:00+02:00'), appointment: 'Appointment/a1' },
      { start: at('2026-11-02T09:50:00+02:00'), end: at('2026-11-02T10:05:00+02:00'), appointment: 'Appointment/a2' },
    ]);
    const busy = writes.map((w) => w.resource as Slot).filter((slot) => slot.status === 'busy');
    expect(busy.map((slot) => slot.extension?.length)).toEqual([1, 2, 2]);
    expect(writes.every((w) => w.json !== undefined)).toBe(true);
  });

  it('Slots across daylight-saving changes (fall-back in Athens and New York, spring-forward in New York)', () => {
    const writes = expectGenericOutput({ ...CODED, slotMinutes: 30, availableTime: [{ start: '00:00:00', end: '04:00:00' }, { start: '22:00:00', end: '23:59:00' }] });
    const starts = writes.map((w) => (w.resource as Slot).start);
    expect(starts).toContain('2026-10-25T03:30:00+03:00');
    expect(starts).toContain('2026-10-25T03:30:00+02:00');
    expectGenericOutput({ timezone: 'America/New_York', slotMinutes: 45, availableTime: [{ start: '00:00:00', end: '03:00:00' }] });
    expectGenericOutput({ timezone: 'America/New_York', availableTime: [{ start: '01:00:00', end: '04:00:00' }] }, [], 7, at('2027-03-10T00:00:00-05:00'));
  });

  it('falls back to the generic path when a Schedule code contains a template mark', () => {
    const writes = expectGenericOutput({ serviceType: [{ text: '\u0001start' }], availableTime: [{ start: '09:00:00', end: '11:00:00' }] }, [], 2);
    expect(writes.every((w) => w.json === undefined)).toBe(true);
  });
});
