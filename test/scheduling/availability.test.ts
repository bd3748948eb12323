import type { Appointment, Extension, HealthcareService, Schedule, Slot } from 'fhir/r4';
import { isFhirError } from '../../src/fhir/outcome';
import {
  APPOINTMENT_BUFFER_URL,
  BLOCKED_BY_URL,
  BOOKING_POLICY_URL,
  HOLD_EXPIRES_URL,
  REQUIRED_LOCATION_TYPE_URL,
  SCHEDULE_AVAILABILITY_URL,
  SERVICE_DURATION_URL,
  appointmentBufferExtension,
  blockedByExtension,
  holdExpiresExtension,
  parseAppointmentBuffer,
  parseAvailability,
  parseBlockedBy,
  parseBookingPolicy,
  parseHoldExpires,
  parseRequiredLocationType,
  parseServiceDuration,
  validateKairosExtensions,
} from '../../src/scheduling/availability';
import type { ExtensibleResource } from '../../src/scheduling/availability';
import { availabilityExtension, makeSchedule } from './schedule-builder';

const A = `Schedule.extension('${SCHEDULE_AVAILABILITY_URL}')`;

/** The issues of the 422 a validation throws, as [expression, diagnostics] pairs. */
function issuesOf(run: () => unknown): Array<{ expression: string; diagnostics: string }> {
  try {
    run();
  } catch (e) {
    if (!isFhirError(e)) throw e;
    expect(e.status).toBe(422);
    return e.outcome.issue.map((i) => {
      expect(i.code).toBe('invalid');
      expect(i.severity).toBe('error');
      return { expression: i.expression?.join(' | ') ?? '', diagnostics: i.diagnostics ?? '' };
    });
  }
  throw new Error('expected a 422 FhirError');
}

const expressionsOf = (run: () => unknown): string[] => issuesOf(run).map((i) => i.expression);

function scheduleWith(sub: Extension[]): Schedule {
  return { resourceType: 'Schedule', actor: [{ reference: 'Practitioner/a' }], extension: [{ url: SCHEDULE_AVAILABILITY_URL, extension: sub }] };
}
const tz: Extension = { url: 'timezone', valueCode: 'Europe/Athens' };

describe('parseAvailability', () => {
  it('returns undefined for a Schedule without the extension', () => {
    expect(parseAvailability({ resourceType: 'Schedule', actor: [{ reference: 'Practitioner/a' }] })).toBeUndefined();
  });

  it('parses a full template with defaults for missing values', () => {
    const template = parseAvailability(
      makeSchedule({
        bufferMinutes: 5,
        availableTime: [
          { days: ['mon', 'tue', 'mon'], start: '08:00:00', end: '12:00:00' },
          { days: ['sat'], allDay: true },
          { start: '13:00:00' },
        ],
        notAvailable: [{ description: 'Christmas', start: '2026-12-25', end: '2026-12-25' }],
      }),
    );
    expect(template).toEqual({
      timezone: 'Europe/Athens',
      slotMinutes: 15,
      bufferMinutes: 5,
      availableTime: [
        { daysOfWeek: ['mon', 'tue'], allDay: false, startMs: 8 * 3_600_000, endMs: 12 * 3_600_000 },
        { daysOfWeek: ['sat'], allDay: true, startMs: 0, endMs: 86_400_000 },
        { daysOfWeek: [], allDay: false, startMs: 13 * 3_600_000, endMs: 86_400_000 },
      ],
      notAvailable: [
        { description: 'Christmas', start: Date.parse('2026-12-25T00:00:00+02:00'), end: Date.parse('2026-12-26T00:00:00+02:00') },
      ],
    });
  });

  it('accepts allDay false together with times and a notAvailable with open ends', () => {
    const template = parseAvailability(makeSchedule({ availableTime: [{ start: '08:00:00', end: '09:00:00', allDay: false }], notAvailable: [{}] }));
    expect(template?.availableTime).toHaveLength(1);
    expect(template?.notAvailable).toEqual([{ description: undefined, start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY }]);
  });

  it('throws the same 422 as validation when the template is malformed', () => {
    expect(expressionsOf(() => parseAvailability(makeSchedule({ slotMinutes: 0 })))).toEqual([`${A}.extension('slotMinutes')`]);
  });
});

describe('validateKairosExtensions: schedule-availability', () => {
  const window = (parts: Extension[]): Extension => ({ url: 'availableTime', extension: parts });
  const day = (code: string): Extension => ({ url: 'daysOfWeek', valueCode: code });
  const time = (which: 'availableStartTime' | 'availableEndTime', value: string): Extension => ({ url: which, valueTime: value });

  it('accepts a valid template', () => {
    expect(() => validateKairosExtensions(makeSchedule({ availableTime: [{ days: ['mon'], start: '08:00:00', end: '12:00:00' }] }))).not.toThrow();
  });

  it('names the daysOfWeek of the second window for an unknown day code', () => {
    const schedule = scheduleWith([tz, window([day('mon')]), window([day('mon'), day('monday')])]);
    expect(issuesOf(() => validateKairosExtensions(schedule))).toEqual([
      {
        expression: `${A}.extension('availableTime')[1].extension('daysOfWeek')`,
        diagnostics: expect.stringContaining('"monday"'),
      },
    ]);
  });

  it('rejects an end before (or equal to) the start', () => {
    const schedule = scheduleWith([
      tz,
      window([time('availableStartTime', '12:00:00'), time('availableEndTime', '08:00:00')]),
      window([time('availableStartTime', '09:00:00'), time('availableEndTime', '09:00:00')]),
    ]);
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([
      `${A}.extension('availableTime')[0].extension('availableEndTime')`,
      `${A}.extension('availableTime')[1].extension('availableEndTime')`,
    ]);
  });

  it('rejects an unknown IANA zone', () => {
    const issues = issuesOf(() => validateKairosExtensions(scheduleWith([{ url: 'timezone', valueCode: 'Mars/Olympus' }])));
    expect(issues).toEqual([{ expression: `${A}.extension('timezone')`, diagnostics: 'Unknown IANA time zone "Mars/Olympus"' }]);
  });

  it('requires exactly one timezone', () => {
    expect(expressionsOf(() => validateKairosExtensions(scheduleWith([])))).toEqual([`${A}.extension('timezone')`]);
    expect(expressionsOf(() => validateKairosExtensions(scheduleWith([tz, tz])))).toEqual([`${A}.extension('timezone')`]);
  });

  it('rejects allDay together with times', () => {
    const schedule = scheduleWith([tz, window([{ url: 'allDay', valueBoolean: true }, time('availableStartTime', '08:00:00')])]);
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([`${A}.extension('availableTime')[0].extension('allDay')`]);
  });

  it('rejects slot length 0 and a negative buffer', () => {
    const schedule = scheduleWith([tz, { url: 'slotMinutes', valuePositiveInt: 0 }, { url: 'bufferMinutes', valueUnsignedInt: -1 }]);
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([`${A}.extension('slotMinutes')`, `${A}.extension('bufferMinutes')`]);
  });

  it('rejects a non-integer slot length', () => {
    expect(expressionsOf(() => validateKairosExtensions(scheduleWith([tz, { url: 'slotMinutes', valuePositiveInt: 7.5 }])))).toEqual([
      `${A}.extension('slotMinutes')`,
    ]);
  });

  it('rejects a malformed time', () => {
    const schedule = scheduleWith([tz, window([time('availableStartTime', '8:00')])]);
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([`${A}.extension('availableTime')[0].extension('availableStartTime')`]);
  });

  it('rejects a notAvailable period that ends before it starts', () => {
    const schedule = makeSchedule({
      notAvailable: [
        { description: 'ok', start: '2026-12-24', end: '2026-12-26' },
        { description: 'backwards', start: '2026-12-26T10:00:00+02:00', end: '2026-12-26T09:00:00+02:00' },
      ],
    });
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([`${A}.extension('notAvailable')[1].extension('during')`]);
  });

  it('accepts a period whose time start lies inside its date end', () => {
    expect(() => validateKairosExtensions(makeSchedule({ notAvailable: [{ start: '2026-12-24T10:00:00+02:00', end: '2026-12-24' }] }))).not.toThrow();
  });

  it('rejects a malformed period bound', () => {
    const schedule = makeSchedule({ notAvailable: [{ start: '2026-12-32' }] });
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([`${A}.extension('notAvailable')[0].extension('during')`]);
  });

  it('rejects unknown sub-extension urls at every level', () => {
    const schedule = scheduleWith([tz, { url: 'slotLength', valuePositiveInt: 15 }, window([{ url: 'weekday', valueCode: 'mon' }])]);
    expect(issuesOf(() => validateKairosExtensions(schedule))).toEqual([
      { expression: `${A}.extension('slotLength')`, diagnostics: expect.stringContaining('Unknown sub-extension "slotLength"') },
      { expression: `${A}.extension('availableTime')[0].extension('weekday')`, diagnostics: expect.stringContaining('"weekday"') },
    ]);
  });

  it('rejects a value[x] of the wrong type', () => {
    const schedule = scheduleWith([
      { url: 'timezone', valueString: 'Europe/Athens' },
      { url: 'slotMinutes', valueInteger: 15 },
      window([{ url: 'allDay', valueString: 'true' }]),
    ]);
    expect(issuesOf(() => validateKairosExtensions(schedule))).toEqual([
      { expression: `${A}.extension('timezone')`, diagnostics: `${A}.extension('timezone') must have valueCode, found valueString` },
      { expression: `${A}.extension('slotMinutes')`, diagnostics: `${A}.extension('slotMinutes') must have valuePositiveInt, found valueInteger` },
      {
        expression: `${A}.extension('availableTime')[0].extension('allDay')`,
        diagnostics: `${A}.extension('availableTime')[0].extension('allDay') must have valueBoolean, found valueString`,
      },
    ]);
  });

  it('rejects a value on the complex extension and a sub-extension without url', () => {
    const schedule: Schedule = {
      resourceType: 'Schedule',
      actor: [{ reference: 'Practitioner/a' }],
      extension: [{ url: SCHEDULE_AVAILABILITY_URL, valueString: 'x', extension: [tz, { valueCode: 'mon' } as Extension] }],
    };
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([A, `${A}.extension[1]`]);
  });

  it('rejects the extension twice on one Schedule', () => {
    const ext = availabilityExtension({ timezone: 'UTC' });
    const schedule: Schedule = { resourceType: 'Schedule', actor: [{ reference: 'Practitioner/a' }], extension: [ext, ext] };
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([A]);
  });

  it('lists every problem in one error', () => {
    const schedule = scheduleWith([
      { url: 'timezone', valueCode: 'Nowhere' },
      { url: 'slotMinutes', valuePositiveInt: 0 },
      window([day('funday'), { url: 'allDay', valueBoolean: true }, time('availableEndTime', '10:00:00')]),
    ]);
    expect(expressionsOf(() => validateKairosExtensions(schedule))).toEqual([
      `${A}.extension('slotMinutes')`,
      `${A}.extension('timezone')`,
      `${A}.extension('availableTime')[0].extension('daysOfWeek')`,
      `${A}.extension('availableTime')[0].extension('allDay')`,
    ]);
  });
});

describe('validateKairosExtensions: the other extensions', () => {
  const P = (type: string): string => `${type}.extension('${BOOKING_POLICY_URL}')`;
  const service = (extension: Extension[]): HealthcareService => ({ resourceType: 'HealthcareService', extension });
  const appointment = (extension: Extension[]): Appointment => ({ resourceType: 'Appointment', status: 'pending', participant: [], extension });

  it('accepts valid extensions and leaves foreign ones alone', () => {
    const resources: ExtensibleResource[] = [
      service([
        { url: SERVICE_DURATION_URL, valuePositiveInt: 30 },
        { url: REQUIRED_LOCATION_TYPE_URL, valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'ECHO' }] } },
        { url: BOOKING_POLICY_URL, extension: [{ url: 'autoConfirm', valueBoolean: false }] },
        { url: 'http://example.org/anything', valueString: 'x' },
      ]),
      appointment([holdExpiresExtension('2026-06-01T10:05:00Z'), appointmentBufferExtension(0)]),
      { resourceType: 'Slot', extension: [blockedByExtension({ reference: 'Appointment/a1' }), blockedByExtension({ reference: 'urn:uuid:0b7e' })] },
      { resourceType: 'Patient' },
    ];
    for (const resource of resources) expect(() => validateKairosExtensions(resource)).not.toThrow();
  });

  it('checks booking-policy value types on a HealthcareService', () => {
    const resource = service([
      {
        url: BOOKING_POLICY_URL,
        extension: [
          { url: 'minNoticeMinutes', valueUnsignedInt: -5 },
          { url: 'bookingWindowDays', valuePositiveInt: 0 },
          { url: 'cancelNoticeMinutes', valueString: '60' },
          { url: 'autoConfirm', valueBoolean: 'yes' } as unknown as Extension,
          { url: 'maxPerDay', valuePositiveInt: 3 },
        ],
      },
    ]);
    const H = P('HealthcareService');
    expect(expressionsOf(() => validateKairosExtensions(resource))).toEqual([
      `${H}.extension('minNoticeMinutes')`,
      `${H}.extension('bookingWindowDays')`,
      `${H}.extension('cancelNoticeMinutes')`,
      `${H}.extension('autoConfirm')`,
      `${H}.extension('maxPerDay')`,
    ]);
  });

  it('checks service-duration and required-location-type types', () => {
    const resource = service([
      { url: SERVICE_DURATION_URL, valueInteger: 30 },
      { url: REQUIRED_LOCATION_TYPE_URL, valueCoding: { code: 'ECHO' } },
    ]);
    expect(expressionsOf(() => validateKairosExtensions(resource))).toEqual([
      `HealthcareService.extension('${SERVICE_DURATION_URL}')`,
      `HealthcareService.extension('${REQUIRED_LOCATION_TYPE_URL}')`,
    ]);
    expect(expressionsOf(() => validateKairosExtensions(service([{ url: SERVICE_DURATION_URL, valuePositiveInt: 0 }])))).toEqual([
      `HealthcareService.extension('${SERVICE_DURATION_URL}')`,
    ]);
  });

  it('requires hold-expires to be an instant and appointment-buffer an unsignedInt', () => {
    const resource = appointment([
      { url: HOLD_EXPIRES_URL, valueInstant: '2026-06-01' },
      { url: APPOINTMENT_BUFFER_URL, valueUnsignedInt: -1 },
    ]);
    expect(expressionsOf(() => validateKairosExtensions(resource))).toEqual([
      `Appointment.extension('${HOLD_EXPIRES_URL}')`,
      `Appointment.extension('${APPOINTMENT_BUFFER_URL}')`,
    ]);
  });

  it('requires blocked-by to reference an Appointment', () => {
    const slot: Slot = {
      resourceType: 'Slot',
      schedule: { reference: 'Schedule/s' },
      status: 'busy',
      start: '2026-06-01T10:00:00Z',
      end: '2026-06-01T10:15:00Z',
      extension: [blockedByExtension({ reference: 'Patient/p' })],
    };
    expect(expressionsOf(() => validateKairosExtensions(slot))).toEqual([`Slot.extension('${BLOCKED_BY_URL}')`]);
  });

  it('rejects a Kairos extension outside its context', () => {
    const schedule: Schedule = {
      resourceType: 'Schedule',
      actor: [{ reference: 'Practitioner/a' }],
      extension: [{ url: SERVICE_DURATION_URL, valuePositiveInt: 30 }],
    };
    expect(issuesOf(() => validateKairosExtensions(schedule))).toEqual([
      {
        expression: `Schedule.extension('${SERVICE_DURATION_URL}')`,
        diagnostics: `Extension ${SERVICE_DURATION_URL} is not allowed on Schedule (context: HealthcareService)`,
      },
    ]);
  });
});

describe('typed parsers', () => {
  it('applies booking-policy defaults', () => {
    const schedule: Schedule = {
      resourceType: 'Schedule',
      actor: [{ reference: 'Practitioner/a' }],
      extension: [{ url: BOOKING_POLICY_URL, extension: [{ url: 'minNoticeMinutes', valueUnsignedInt: 120 }] }],
    };
    expect(parseBookingPolicy(schedule)).toEqual({ minNoticeMinutes: 120, bookingWindowDays: undefined, cancelNoticeMinutes: 0, autoConfirm: true });
    expect(parseBookingPolicy({ resourceType: 'HealthcareService' })).toBeUndefined();
  });

  it('reads a full booking policy', () => {
    const service: HealthcareService = {
      resourceType: 'HealthcareService',
      extension: [
        {
          url: BOOKING_POLICY_URL,
          extension: [
            { url: 'minNoticeMinutes', valueUnsignedInt: 0 },
            { url: 'bookingWindowDays', valuePositiveInt: 60 },
            { url: 'cancelNoticeMinutes', valueUnsignedInt: 1440 },
            { url: 'autoConfirm', valueBoolean: false },
          ],
        },
      ],
    };
    expect(parseBookingPolicy(service)).toEqual({ minNoticeMinutes: 0, bookingWindowDays: 60, cancelNoticeMinutes: 1440, autoConfirm: false });
  });

  it('reads the service extensions', () => {
    const concept = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'ECHO' }] };
    const service: HealthcareService = {
      resourceType: 'HealthcareService',
      extension: [
        { url: SERVICE_DURATION_URL, valuePositiveInt: 45 },
        { url: REQUIRED_LOCATION_TYPE_URL, valueCodeableConcept: concept },
      ],
    };
    expect(parseServiceDuration(service)).toBe(45);
    expect(parseRequiredLocationType(service)).toEqual(concept);
    expect(parseServiceDuration({ resourceType: 'HealthcareService' })).toBeUndefined();
  });

  it('reads the appointment and slot extensions', () => {
    const appointment: Appointment = {
      resourceType: 'Appointment',
      status: 'pending',
      participant: [],
      extension: [holdExpiresExtension('2026-06-01T10:05:00+03:00'), appointmentBufferExtension(10)],
    };
    expect(parseHoldExpires(appointment)).toBe(Date.parse('2026-06-01T07:05:00Z'));
    expect(parseAppointmentBuffer(appointment)).toBe(10);
    const slot: Slot = {
      resourceType: 'Slot',
      schedule: { reference: 'Schedule/s' },
      status: 'busy',
      start: '2026-06-01T10:00:00Z',
      end: '2026-06-01T10:15:00Z',
      extension: [blockedByExtension({ reference: 'Appointment/a1' }), blockedByExtension({ reference: 'Appointment/a2' })],
    };
    expect(parseBlockedBy(slot)).toEqual(['Appointment/a1', 'Appointment/a2']);
  });

  it('throws 422 when the extension it reads is malformed', () => {
    expect(expressionsOf(() => parseServiceDuration({ resourceType: 'HealthcareService', extension: [{ url: SERVICE_DURATION_URL, valueString: '30' }] }))).toEqual([
      `HealthcareService.extension('${SERVICE_DURATION_URL}')`,
    ]);
  });
});
