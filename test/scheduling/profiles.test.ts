import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KAIROS_EXTENSION_URLS, KAIROS_STRUCTURE_DEFINITION_BASE, validateKairosExtensions } from '../../src/scheduling/availability';
import { SLOT_ORIGIN_SYSTEM } from '../../src/scheduling/slot-generation';

const dir = join(__dirname, '..', '..', 'profiles');

interface ElementLike {
  id?: string;
  sliceName?: string;
  fixedUri?: string;
  min?: number;
  max?: string;
  type?: Array<{ code?: string }>;
}

interface DefinitionLike {
  resourceType?: string;
  id?: string;
  url?: string;
  name?: string;
  fhirVersion?: string;
  kind?: string;
  type?: string;
  baseDefinition?: string;
  derivation?: string;
  context?: Array<{ type?: string; expression?: string }>;
  differential?: { element?: ElementLike[] };
}

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
}

const definitions = readdirSync(dir)
  .filter((f) => f.startsWith('StructureDefinition-') && f.endsWith('.json'))
  .map((file) => ({ file, sd: readJson(file) as DefinitionLike }));

// Where each extension may be used and what it carries (SPEC §4.1–§4.6).
const expected: Record<string, { name: string; context: string[]; value?: string; max: string }> = {
  'schedule-availability': { name: 'ScheduleAvailability', context: ['Schedule'], max: '1' },
  'booking-policy': { name: 'BookingPolicy', context: ['Schedule', 'HealthcareService'], max: '1' },
  'service-duration': { name: 'ServiceDuration', context: ['HealthcareService'], value: 'positiveInt', max: '1' },
  'required-location-type': { name: 'RequiredLocationType', context: ['HealthcareService'], value: 'CodeableConcept', max: '1' },
  'hold-expires': { name: 'HoldExpires', context: ['Appointment'], value: 'instant', max: '1' },
  'appointment-buffer': { name: 'AppointmentBuffer', context: ['Appointment'], value: 'unsignedInt', max: '1' },
  'blocked-by': { name: 'BlockedBy', context: ['Slot'], value: 'Reference', max: '*' },
};

describe('profiles/', () => {
  it('holds one StructureDefinition per extension URL constant, and no others', () => {
    expect(definitions.map((d) => d.sd.url).sort()).toEqual([...KAIROS_EXTENSION_URLS].sort());
  });

  it.each(Object.entries(expected))('defines %s with the right url, name, context and value', (id, want) => {
    const found = definitions.find((d) => d.sd.id === id);
    expect(found?.file).toBe(`StructureDefinition-${id}.json`);
    const sd = found?.sd ?? {};
    expect(sd).toMatchObject({
      resourceType: 'StructureDefinition',
      url: `${KAIROS_STRUCTURE_DEFINITION_BASE}${id}`,
      name: want.name,
      fhirVersion: '4.0.1',
      kind: 'complex-type',
      type: 'Extension',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
      derivation: 'constraint',
    });
    expect(sd.context).toEqual(want.context.map((expression) => ({ type: 'element', expression })));
    const elements = sd.differential?.element ?? [];
    expect(elements.find((e) => e.id === 'Extension')?.max).toBe(want.max);
    expect(elements.find((e) => e.id === 'Extension.url')?.fixedUri).toBe(sd.url);
    const value = elements.find((e) => e.id === 'Extension.value[x]');
    if (want.value) expect(value?.type).toEqual([expect.objectContaining({ code: want.value })]);
    else expect(value?.max).toBe('0');
    // Element ids are unique within the differential.
    expect(new Set(elements.map((e) => e.id)).size).toBe(elements.length);
  });

  it('declares every schedule-availability sub-extension the validator accepts, with its value type', () => {
    const sd = definitions.find((d) => d.sd.id === 'schedule-availability')?.sd;
    const elements = sd?.differential?.element ?? [];
    const slices = elements.filter((e) => e.sliceName !== undefined).map((e) => e.id);
    expect(slices).toEqual([
      'Extension.extension:timezone',
      'Extension.extension:slotMinutes',
      'Extension.extension:bufferMinutes',
      'Extension.extension:availableTime',
      'Extension.extension:availableTime.extension:daysOfWeek',
      'Extension.extension:availableTime.extension:availableStartTime',
      'Extension.extension:availableTime.extension:availableEndTime',
      'Extension.extension:availableTime.extension:allDay',
      'Extension.extension:notAvailable',
      'Extension.extension:notAvailable.extension:description',
      'Extension.extension:notAvailable.extension:during',
    ]);
    const typeOf = (slice: string): string | undefined => elements.find((e) => e.id === `${slice}.value[x]`)?.type?.[0]?.code;
    expect(typeOf('Extension.extension:timezone')).toBe('code');
    expect(elements.find((e) => e.id === 'Extension.extension:timezone')).toMatchObject({ min: 1, max: '1' });
    expect(typeOf('Extension.extension:slotMinutes')).toBe('positiveInt');
    expect(typeOf('Extension.extension:bufferMinutes')).toBe('unsignedInt');
    expect(typeOf('Extension.extension:availableTime.extension:availableStartTime')).toBe('time');
    expect(typeOf('Extension.extension:availableTime.extension:allDay')).toBe('boolean');
    expect(typeOf('Extension.extension:notAvailable.extension:during')).toBe('Period');
  });

  it('declares the slot-origin CodeSystem the generator tags Slots with', () => {
    expect(readJson('CodeSystem-slot-origin.json')).toMatchObject({
      resourceType: 'CodeSystem',
      url: SLOT_ORIGIN_SYSTEM,
      concept: [expect.objectContaining({ code: 'generated' })],
    });
  });

  it('lists every profile in profiles/README.md', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    for (const { file } of definitions) expect(readme).toContain(file);
  });

  it('accepts a Schedule that uses every sub-extension of the profile', () => {
    expect(() =>
      validateKairosExtensions({
        resourceType: 'Schedule',
        extension: [
          {
            url: `${KAIROS_STRUCTURE_DEFINITION_BASE}schedule-availability`,
            extension: [
              { url: 'timezone', valueCode: 'Europe/Athens' },
              { url: 'slotMinutes', valuePositiveInt: 20 },
              { url: 'bufferMinutes', valueUnsignedInt: 5 },
              {
                url: 'availableTime',
                extension: [
                  { url: 'daysOfWeek', valueCode: 'mon' },
                  { url: 'availableStartTime', valueTime: '08:00:00' },
                  { url: 'availableEndTime', valueTime: '12:00:00' },
                  { url: 'allDay', valueBoolean: false },
                ],
              },
              {
                url: 'notAvailable',
                extension: [
                  { url: 'description', valueString: 'Leave' },
                  { url: 'during', valuePeriod: { start: '2026-08-01', end: '2026-08-15' } },
                ],
              },
            ],
          },
        ],
      }),
    ).not.toThrow();
  });
});
