import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OperationOutcomeIssue } from 'fhir/r4';
import { isFhirError } from '../../src/fhir/outcome';
import { instantToEpoch, parseReference } from '../../src/fhir/validation-rules';
import { validateResource } from '../../src/fhir/validation';

const FIXTURES = path.join(__dirname, '..', 'fixtures');

interface Rejection {
  status: number;
  issues: { code: string; expression: string | undefined; diagnostics: string }[];
}

/** Runs validateResource and returns what it threw (failing the test when it accepted the input). */
function rejection(resource: unknown, expectedType?: string): Rejection {
  try {
    validateResource(resource, expectedType === undefined ? {} : { expectedType });
  } catch (e) {
    if (!isFhirError(e)) throw e;
    return {
      status: e.status,
      issues: e.outcome.issue.map((i: OperationOutcomeIssue) => ({
        code: i.code,
        expression: i.expression?.[0],
        diagnostics: i.diagnostics ?? '',
      })),
    };
  }
  throw new Error(`expected a rejection of ${JSON.stringify(resource).slice(0, 200)}`);
}

/** Expects exactly one issue and returns it. */
function single(resource: unknown): { status: number; code: string; expression: string | undefined } {
  const r = rejection(resource);
  expect(r.issues).toHaveLength(1);
  const [issue] = r.issues;
  if (issue === undefined) throw new Error('no issue');
  return { status: r.status, code: issue.code, expression: issue.expression };
}

function makeSlot(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Slot',
    id: 'slot-1',
    schedule: { reference: 'Schedule/dr-who' },
    status: 'free',
    start: '2025-01-06T09:00:00Z',
    end: '2025-01-06T09:15:00Z',
    ...overrides,
  };
}

function makeAppointment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    start: '2025-01-06T09:00:00+02:00',
    end: '2025-01-06T09:30:00+02:00',
    participant: [
      { actor: { reference: 'Patient/p1' }, status: 'accepted' },
      { actor: { reference: 'Practitioner/dr-who' }, status: 'accepted' },
    ],
    ...overrides,
  };
}

function makeAuditEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110' },
    recorded: '2025-01-06T09:00:00.123Z',
    agent: [{ who: { display: 'anonymous' }, requestor: true }],
    source: { observer: { display: 'Kairos' } },
    ...overrides,
  };
}

describe('validateResource: official R4 examples', () => {
  const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

  it('has the examples of every Kairos type', () => {
    for (const type of ['Schedule', 'Slot', 'Appointment', 'Patient', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService', 'Organization', 'AuditEvent']) {
      expect(files.some((f) => f.startsWith(`${type}-`))).toBe(true);
    }
  });

  it.each(files)('accepts %s', (file) => {
    const resource: unknown = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8'));
    expect(() => validateResource(resource)).not.toThrow();
  });

  it('accepts the builders used in these tests', () => {
    for (const r of [makeSlot(), makeAppointment(), makeAuditEvent()]) expect(() => validateResource(r)).not.toThrow();
  });
});

describe('validateResource: what is not a resource', () => {
  const deep: Record<string, unknown> = { url: 'http://x', valueString: 'leaf' };
  let nested: Record<string, unknown> = deep;
  for (let i = 0; i < 5000; i++) nested = { url: 'http://x', extension: [nested] };

  it.each([
    ['an array', [makeSlot()]],
    ['a number', 42],
    ['null', null],
    ['a string', '{"resourceType":"Slot"}'],
    ['undefined', undefined],
    ['a boolean', true],
    ['an object without resourceType', { id: 'x' }],
    ['a numeric resourceType', { resourceType: 7 }],
    ['an unknown resourceType', { resourceType: 'Foo' }],
    ['an R4 type Kairos does not take', { resourceType: 'Observation', status: 'final' }],
    ['an inherited property name as resourceType', { resourceType: 'constructor' }],
    ['extensions nested 10,000 levels deep', makeSlot({ extension: [nested] })],
    ['arrays of arrays', makeSlot({ schedule: [[[[[]]]]] })],
    ['a Bundle of junk', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Foo' } }, { resource: 3 }] }],
    ['a contained resource without resourceType', makeSlot({ contained: [{ id: 'x' }] })],
    ['__proto__ keys', JSON.parse('{"resourceType":"Slot","__proto__":{"status":"free"}}') as unknown],
  ])('returns 400 for %s', (_name, input) => {
    expect(rejection(input).status).toBe(400);
  });

  it('returns 400 structure for a non-object and names what it found', () => {
    const r = rejection([1, 2]);
    expect(r.issues[0]?.code).toBe('structure');
    expect(r.issues[0]?.diagnostics).toContain('an array');
  });

  it('returns 400 invalid at resourceType for an unknown type', () => {
    expect(single({ resourceType: 'Foo' })).toEqual({ status: 400, code: 'invalid', expression: 'resourceType' });
  });

  it('returns 400 invalid when the resourceType is not the one the endpoint expects', () => {
    const r = rejection(makeSlot(), 'Appointment');
    expect(r.status).toBe(400);
    expect(r.issues).toEqual([expect.objectContaining({ code: 'invalid', expression: 'resourceType' })]);
    expect(() => validateResource(makeSlot(), { expectedType: 'Slot' })).not.toThrow();
  });
});

describe('validateResource: the R4 schema', () => {
  it('returns 400 structure for an unknown element', () => {
    expect(single(makeSlot({ colour: 'blue' }))).toEqual({ status: 400, code: 'structure', expression: 'Slot.colour' });
  });

  it('returns 400 structure for Medplum-only fields that are not R4', () => {
    expect(single(makeSlot({ meta: { project: 'p1' } }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.meta.project',
    });
    expect(single(makeSlot({ schedule: { reference: 'Schedule/1', resource: { resourceType: 'Schedule' } } }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.schedule.resource',
    });
  });

  it('returns 400 structure for a string or an array where R4 has a complex type', () => {
    expect(single(makeSlot({ schedule: 'Schedule/1' }))).toEqual({ status: 400, code: 'structure', expression: 'Slot.schedule' });
    expect(single(makeSlot({ schedule: [{ reference: 'Schedule/1' }] }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.schedule',
    });
    expect(single(makeSlot({ text: { status: 'generated', div: 42 } }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.text.div',
    });
  });

  it('returns 400 structure for a wrong JSON type', () => {
    expect(single(makeSlot({ start: 20250106 }))).toEqual({ status: 400, code: 'structure', expression: 'Slot.start' });
    expect(single(makeSlot({ serviceType: { text: 'x' } }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.serviceType',
    });
    expect(single(makeSlot({ overbooked: 'true' }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.overbooked',
    });
  });

  it('returns 422 invalid for a code outside the required value set', () => {
    expect(single(makeSlot({ status: 'open' }))).toEqual({ status: 422, code: 'invalid', expression: 'Slot.status' });
  });

  it('returns 422 invalid at the backbone element for a bad participant status', () => {
    const appointment = makeAppointment();
    const participants = appointment.participant as Record<string, unknown>[];
    participants[1] = { ...participants[1], status: 'maybe' };
    expect(single(appointment)).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Appointment.participant[1].status',
    });
  });

  it.each([
    ['no seconds', '2025-01-06T09:00Z'],
    ['no timezone', '2025-01-06T09:00:00'],
    ['only a date', '2025-01-06'],
    ['a space instead of T', '2025-01-06 09:00:00Z'],
    ['hour 24', '2025-01-06T24:00:00Z'],
  ])('returns 422 invalid for an instant with %s', (_name, start) => {
    const r = rejection(makeSlot({ start }));
    expect(r.status).toBe(422);
    expect(r.issues).toEqual([expect.objectContaining({ code: 'invalid', expression: 'Slot.start' })]);
    expect(r.issues[0]?.diagnostics).toContain('instant');
  });

  it('accepts instants with fractions and offsets', () => {
    expect(() =>
      validateResource(makeSlot({ start: '2025-01-06T09:00:00.000+14:00', end: '2025-01-06T09:00:00.5-12:00' })),
    ).not.toThrow();
  });

  it('returns 422 invalid for integers out of their datatype range', () => {
    expect(single(makeAppointment({ minutesDuration: 0 }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Appointment.minutesDuration',
    });
    expect(single(makeAppointment({ priority: -1 }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Appointment.priority',
    });
    expect(single(makeAppointment({ minutesDuration: 1.5 }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Appointment.minutesDuration',
    });
  });

  it('checks integer ranges inside extensions too', () => {
    const extension = [{ url: 'https://kairos.dev/fhir/StructureDefinition/x', valuePositiveInt: 0 }];
    expect(single(makeSlot({ extension }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.extension[0].valuePositiveInt',
    });
  });

  it('points into contained resources and Bundle entries', () => {
    const pointer = [{ url: 'http://example.org/source', valueReference: { reference: '#x' } }];
    expect(single(makeSlot({ contained: [{ resourceType: 'Nope', id: 'x' }], extension: pointer }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.contained[0].resourceType',
    });
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: makeSlot(), request: { method: 'POST', url: 'Slot' } },
        { resource: makeSlot({ start: '2025-01-06' }), request: { method: 'POST', url: 'Slot' } },
      ],
    };
    expect(single(bundle)).toEqual({ status: 422, code: 'invalid', expression: 'Bundle.entry[1].resource.start' });
  });

  it('reports a primitive extension element at the primitive', () => {
    expect(single(makeSlot({ _status: { extension: [{ url: 'http://x', valueString: 'a' }], bogus: 1 } }))).toEqual({
      status: 400,
      code: 'structure',
      expression: 'Slot.status.bogus',
    });
  });
});

describe('validateResource: required elements', () => {
  it.each(['schedule', 'status', 'start', 'end'])('returns 422 required when Slot.%s is missing', (name) => {
    const slot = makeSlot();
    delete slot[name];
    expect(single(slot)).toEqual({ status: 422, code: 'required', expression: `Slot.${name}` });
  });

  it('accepts a required primitive given only by its extension (R4 json.html)', () => {
    const slot = makeSlot({ _status: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] } });
    delete slot.status;
    expect(() => validateResource(slot)).not.toThrow();
  });

  it('returns 422 required for Appointment.status, participant and participant.status', () => {
    const { status: _s, participant: _p, ...bare } = makeAppointment();
    const r = rejection(bare);
    expect(r.status).toBe(422);
    expect(r.issues.filter((i) => i.code === 'required').map((i) => i.expression)).toEqual([
      'Appointment.participant',
      'Appointment.status',
    ]);
    const appointment = makeAppointment({ participant: [{ actor: { reference: 'Patient/1' } }] });
    expect(single(appointment)).toEqual({
      status: 422,
      code: 'required',
      expression: 'Appointment.participant[0].status',
    });
  });

  it('returns 422 required for Schedule.actor', () => {
    expect(single({ resourceType: 'Schedule', active: true })).toEqual({
      status: 422,
      code: 'required',
      expression: 'Schedule.actor',
    });
  });

  it('returns 422 required for AuditEvent backbone elements', () => {
    expect(single(makeAuditEvent({ agent: [{ who: { display: 'x' } }] }))).toEqual({
      status: 422,
      code: 'required',
      expression: 'AuditEvent.agent[0].requestor',
    });
    expect(single(makeAuditEvent({ source: { site: 'x' } }))).toEqual({
      status: 422,
      code: 'required',
      expression: 'AuditEvent.source.observer',
    });
    const { recorded: _r, ...noRecorded } = makeAuditEvent();
    expect(single(noRecorded)).toEqual({ status: 422, code: 'required', expression: 'AuditEvent.recorded' });
    expect(
      single(makeAuditEvent({ entity: [{ what: { reference: 'Appointment/1' }, detail: [{ type: 'reason' }] }] })),
    ).toEqual({ status: 422, code: 'required', expression: 'AuditEvent.entity[0].detail[0].value[x]' });
  });

  it('returns 422 required for Extension.url and Narrative.status', () => {
    expect(single(makeSlot({ extension: [{ valueString: 'x' }] }))).toEqual({
      status: 422,
      code: 'required',
      expression: 'Slot.extension[0].url',
    });
    expect(single(makeSlot({ text: { div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' } }))).toEqual({
      status: 422,
      code: 'required',
      expression: 'Slot.text.status',
    });
  });
});

describe('validateResource: JSON representation rules', () => {
  it('returns 422 invalid for an empty array', () => {
    expect(single(makeSlot({ identifier: [] }))).toEqual({ status: 422, code: 'invalid', expression: 'Slot.identifier' });
  });

  it('returns 422 invariant (ele-1) once for an empty string', () => {
    expect(single(makeSlot({ comment: '' }))).toEqual({ status: 422, code: 'invariant', expression: 'Slot.comment' });
    expect(single(makeSlot({ status: '' }))).toEqual({ status: 422, code: 'invariant', expression: 'Slot.status' });
    expect(single({ resourceType: 'Patient', name: [{ given: ['Ann', ''] }] })).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Patient.name[0].given[1]',
    });
  });

  it('returns 422 invariant (ele-1) for an empty object', () => {
    expect(single(makeSlot({ serviceType: [{}] }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.serviceType[0]',
    });
    expect(single(makeSlot({ meta: { id: 'm' } }))).toEqual({ status: 422, code: 'invariant', expression: 'Slot.meta' });
  });

  it('returns 422 invariant (ext-1) for an extension with both a value and extensions, or neither', () => {
    expect(single(makeSlot({ extension: [{ url: 'http://x' }] }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.extension[0]',
    });
    const both = { url: 'http://x', valueString: 'a', extension: [{ url: 'y', valueString: 'b' }] };
    expect(single(makeSlot({ extension: [both] }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.extension[0]',
    });
  });
});

describe('validateResource: reference targets', () => {
  it('returns 422 invalid when Slot.schedule references something other than a Schedule', () => {
    expect(single(makeSlot({ schedule: { reference: 'Practitioner/dr-who' } }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.schedule.reference',
    });
  });

  it('returns 422 invalid when Appointment.participant.actor is not one of its seven types', () => {
    const appointment = makeAppointment({
      participant: [{ actor: { reference: 'Organization/o1' }, status: 'accepted' }],
    });
    expect(single(appointment)).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Appointment.participant[0].actor.reference',
    });
  });

  it('returns 422 invalid for Schedule.actor and Appointment.slot of the wrong type', () => {
    expect(single({ resourceType: 'Schedule', actor: [{ reference: 'Location/room-1' }, { reference: 'Slot/s1' }] })).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Schedule.actor[1].reference',
    });
    expect(single(makeAppointment({ slot: [{ reference: 'Schedule/s1' }] }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Appointment.slot[0].reference',
    });
  });

  it.each([
    ['a relative reference', 'Schedule/dr-who'],
    ['a versioned reference', 'Schedule/dr-who/_history/3'],
    ['an absolute URL', 'https://ehr.example.org/fhir/Schedule/dr-who'],
    ['an absolute URL without a type segment', 'https://ehr.example.org/schedules?id=7'],
    ['a urn:uuid', 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a'],
    ['a conditional reference', 'Schedule?identifier=http://x|1'],
  ])('accepts %s', (_name, reference) => {
    expect(() => validateResource(makeSlot({ schedule: { reference } }))).not.toThrow();
  });

  it('checks the type of an absolute URL and of Reference.type', () => {
    expect(single(makeSlot({ schedule: { reference: 'https://ehr.example.org/fhir/Patient/1' } }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.schedule.reference',
    });
    expect(single(makeSlot({ schedule: { type: 'Patient', identifier: { value: '1' } } }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.schedule.type',
    });
  });

  it('resolves #contained references and checks their type', () => {
    const schedule = { resourceType: 'Schedule', id: 's', actor: [{ display: 'Dr Who' }] };
    expect(() => validateResource(makeSlot({ contained: [schedule], schedule: { reference: '#s' } }))).not.toThrow();
    const patient = { resourceType: 'Patient', id: 's' };
    expect(single(makeSlot({ contained: [patient], schedule: { reference: '#s' } }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.schedule.reference',
    });
    expect(single(makeSlot({ schedule: { reference: '#nowhere' } }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.schedule.reference',
    });
  });

  it('returns 422 invalid for a malformed relative reference', () => {
    expect(single(makeSlot({ schedule: { reference: 'Schedule' } }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.schedule.reference',
    });
  });

  it('parses the reference forms of R4 references.html', () => {
    expect(parseReference('Slot/1')).toEqual({ kind: 'typed', type: 'Slot' });
    expect(parseReference('#a')).toEqual({ kind: 'contained', id: 'a' });
    expect(parseReference('urn:oid:1.2.3')).toEqual({ kind: 'untyped' });
    expect(parseReference('http://x/fhir/Slot/1/_history/2')).toEqual({ kind: 'typed', type: 'Slot' });
    expect(parseReference('slot/1')).toEqual({ kind: 'malformed' });
  });
});

describe('validateResource: invariants', () => {
  it('returns 422 invariant (app-1) for a participant with neither type nor actor', () => {
    const appointment = makeAppointment({
      participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }, { status: 'accepted' }],
    });
    expect(single(appointment)).toEqual({ status: 422, code: 'invariant', expression: 'Appointment.participant[1]' });
  });

  it('returns 422 invariant (app-2, app-3) for a booked appointment with start but no end', () => {
    const { end: _e, ...noEnd } = makeAppointment();
    const r = rejection(noEnd);
    expect(r.status).toBe(422);
    expect(r.issues.map((i) => [i.code, i.expression, i.diagnostics.slice(0, 5)])).toEqual([
      ['invariant', 'Appointment.end', 'app-2'],
      ['invariant', 'Appointment.end', 'app-3'],
    ]);
  });

  it('returns 422 invariant (app-3) for a booked appointment without times', () => {
    const { start: _s, end: _e, ...untimed } = makeAppointment();
    expect(single(untimed)).toEqual({ status: 422, code: 'invariant', expression: 'Appointment.start' });
  });

  it.each(['proposed', 'cancelled', 'waitlist'])('accepts a %s appointment without times (app-3)', (status) => {
    const { start: _s, end: _e, ...untimed } = makeAppointment({ status });
    expect(() => validateResource(untimed)).not.toThrow();
  });

  it('returns 422 invariant (app-4) for a cancelation reason on a booked appointment', () => {
    const cancelationReason = { text: 'patient ill' };
    expect(single(makeAppointment({ cancelationReason }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Appointment.cancelationReason',
    });
    expect(() => validateResource(makeAppointment({ status: 'noshow', cancelationReason }))).not.toThrow();
  });

  it('returns 422 invariant at Slot.end when the slot ends before or when it starts', () => {
    expect(single(makeSlot({ end: '2025-01-06T08:59:59Z' }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.end',
    });
    expect(single(makeSlot({ end: '2025-01-06T09:00:00Z' }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.end',
    });
  });

  it('compares instants across offsets', () => {
    // 10:00+02:00 is 08:00Z, before the 09:00Z start.
    expect(single(makeSlot({ end: '2025-01-06T10:00:00+02:00' }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.end',
    });
    expect(() => validateResource(makeSlot({ end: '2025-01-06T09:00:00.001Z' }))).not.toThrow();
  });

  it('returns 422 invariant at Appointment.end when the appointment ends before it starts', () => {
    expect(single(makeAppointment({ end: '2025-01-06T08:00:00+02:00' }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Appointment.end',
    });
  });

  it('returns 422 invalid for a day the calendar does not have', () => {
    expect(single(makeSlot({ start: '2025-02-29T09:00:00Z', end: '2025-03-01T09:00:00Z' }))).toEqual({
      status: 422,
      code: 'invalid',
      expression: 'Slot.start',
    });
    expect(instantToEpoch('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
  });

  it('returns 422 invariant for the Organization and Patient invariants', () => {
    expect(single({ resourceType: 'Organization', active: true })).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Organization',
    });
    expect(single({ resourceType: 'Organization', name: 'X', address: [{ use: 'home', city: 'Y' }] })).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Organization.address[0].use',
    });
    expect(single({ resourceType: 'Patient', contact: [{ gender: 'male' }] })).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Patient.contact[0]',
    });
  });

  it('returns 422 invariant (dom-3) for a contained resource nothing refers to', () => {
    const schedule = { resourceType: 'Schedule', id: 's', actor: [{ display: 'Dr Who' }] };
    expect(single(makeSlot({ contained: [schedule] }))).toEqual({
      status: 422,
      code: 'invariant',
      expression: 'Slot.contained[0]',
    });
  });

  it('applies the rules of a type to the resources inside Parameters', () => {
    const parameters = {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment-resource', resource: makeAppointment({ participant: [{ type: [{ text: 'x' }] }] }) }],
    };
    expect(single(parameters)).toEqual({
      status: 422,
      code: 'required',
      expression: 'Parameters.parameter[0].resource.participant[0].status',
    });
  });
});

describe('validateResource: several problems at once', () => {
  it('reports every issue in one 422 outcome', () => {
    const slot = makeSlot({ status: 'open', end: '2025-01-06T08:00:00Z', identifier: [], comment: '' });
    delete slot.schedule;
    const r = rejection(slot);
    expect(r.status).toBe(422);
    expect(r.issues.map((i) => `${i.code} ${i.expression ?? ''}`).sort()).toEqual(
      [
        'invalid Slot.status',
        'required Slot.schedule',
        'invalid Slot.identifier',
        'invariant Slot.comment',
        'invariant Slot.end',
      ].sort(),
    );
  });

  it('returns 400 when any of the issues is structural, and still lists the others', () => {
    const r = rejection(makeSlot({ status: 'open', colour: 'blue' }));
    expect(r.status).toBe(400);
    expect(r.issues.map((i) => i.code).sort()).toEqual(['invalid', 'structure']);
  });
});

describe('scripts/generate-validator.js', () => {
  it('does nothing when generated/ is up to date (npm test and npm start run it every time)', () => {
    const script = path.join(__dirname, '..', '..', 'scripts', 'generate-validator.js');
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    // It prints only when it regenerates.
    expect(run.stdout).toBe('');
  });
});
