import type {
  CodeableConcept,
  Coding,
  Extension,
  HealthcareService,
  Location,
  Organization,
  Period,
  Practitioner,
  PractitionerRole,
  Reference,
  Schedule,
} from 'fhir/r4';
import { BOOKING_POLICY_URL, REQUIRED_LOCATION_TYPE_URL, SCHEDULE_AVAILABILITY_URL, SERVICE_DURATION_URL } from '../src/scheduling/availability';

/*
 * The demo clinic (issue "Booking engine"): an Organization, four doctors (general medicine and
 * cardiology), two exam rooms and a procedure room, four services with durations, and weekday hours
 * in Europe/Athens with a 24 h minimum notice and a 30-day booking window. Shared by the demo loader
 * (scripts/load-demo-clinic.ts) and the end-to-end test (test/api/clinic-scenario.test.ts), so the
 * demo is exactly what the test exercises. Every resource has a fixed id: loading is a series of
 * PUTs (update-as-create), so running the loader twice changes nothing.
 */

/** Code systems local to the demo (a real clinic would use its own terminology). */
export const DEMO_SERVICE_SYSTEM = 'https://kairos.dev/fhir/CodeSystem/demo-service';
export const DEMO_ROOM_TYPE_SYSTEM = 'https://kairos.dev/fhir/CodeSystem/demo-room-type';
const SNOMED = 'http://snomed.info/sct';

export const GENERAL_MEDICINE: CodeableConcept = { coding: [{ system: SNOMED, code: '394802001', display: 'General medicine' }] };
export const CARDIOLOGY: CodeableConcept = { coding: [{ system: SNOMED, code: '394579002', display: 'Cardiology' }] };

export const CLINIC_TIMEZONE = 'Europe/Athens';

export type DayCode = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface OpeningHours {
  days: readonly DayCode[];
  /** Local `HH:MM:SS`. */
  start: string;
  end: string;
}

/** Mon–Thu 08:00–17:00, Fri 08:00–14:00; closed at weekends. */
export const CLINIC_HOURS: readonly OpeningHours[] = [
  { days: ['mon', 'tue', 'wed', 'thu'], start: '08:00:00', end: '17:00:00' },
  { days: ['fri'], start: '08:00:00', end: '14:00:00' },
];

export interface AvailabilityInput {
  timezone?: string;
  slotMinutes?: number;
  bufferMinutes?: number;
  hours?: readonly OpeningHours[];
  notAvailable?: ReadonlyArray<{ description: string; during: Period }>;
}

/** The `schedule-availability` extension (SPEC §4.1). */
export function availabilityExtension(input: AvailabilityInput = {}): Extension {
  const sub: Extension[] = [{ url: 'timezone', valueCode: input.timezone ?? CLINIC_TIMEZONE }];
  if (input.slotMinutes !== undefined) sub.push({ url: 'slotMinutes', valuePositiveInt: input.slotMinutes });
  if (input.bufferMinutes !== undefined) sub.push({ url: 'bufferMinutes', valueUnsignedInt: input.bufferMinutes });
  for (const h of input.hours ?? CLINIC_HOURS) {
    sub.push({
      url: 'availableTime',
      extension: [
        ...h.days.map((d) => ({ url: 'daysOfWeek', valueCode: d })),
        { url: 'availableStartTime', valueTime: h.start },
        { url: 'availableEndTime', valueTime: h.end },
      ],
    });
  }
  for (const n of input.notAvailable ?? []) {
    sub.push({ url: 'notAvailable', extension: [{ url: 'description', valueString: n.description }, { url: 'during', valuePeriod: n.during }] });
  }
  return { url: SCHEDULE_AVAILABILITY_URL, extension: sub };
}

export interface PolicyInput {
  minNoticeMinutes?: number;
  bookingWindowDays?: number;
  cancelNoticeMinutes?: number;
  autoConfirm?: boolean;
}

/** The `booking-policy` extension (SPEC §4.2). */
export function bookingPolicyExtension(input: PolicyInput): Extension {
  const sub: Extension[] = [];
  if (input.minNoticeMinutes !== undefined) sub.push({ url: 'minNoticeMinutes', valueUnsignedInt: input.minNoticeMinutes });
  if (input.bookingWindowDays !== undefined) sub.push({ url: 'bookingWindowDays', valuePositiveInt: input.bookingWindowDays });
  if (input.cancelNoticeMinutes !== undefined) sub.push({ url: 'cancelNoticeMinutes', valueUnsignedInt: input.cancelNoticeMinutes });
  if (input.autoConfirm !== undefined) sub.push({ url: 'autoConfirm', valueBoolean: input.autoConfirm });
  return { url: BOOKING_POLICY_URL, extension: sub };
}

/** The clinic's policy: 24 h minimum notice, 30-day window, cancellations at least 24 h ahead. */
export const CLINIC_POLICY: PolicyInput = { minNoticeMinutes: 24 * 60, bookingWindowDays: 30, cancelNoticeMinutes: 24 * 60 };

export interface ScheduleInput {
  id: string;
  actors: readonly string[];
  serviceType?: readonly CodeableConcept[];
  specialty?: readonly CodeableConcept[];
  availability?: AvailabilityInput;
  /** Undefined: no booking-policy extension. */
  policy?: PolicyInput;
  active?: boolean;
  comment?: string;
}

/** A Schedule with an availability template (and a booking policy when given). */
export function scheduleResource(input: ScheduleInput): Schedule & { id: string } {
  const extension = [availabilityExtension(input.availability)];
  if (input.policy !== undefined) extension.push(bookingPolicyExtension(input.policy));
  const schedule: Schedule & { id: string } = {
    resourceType: 'Schedule',
    id: input.id,
    extension,
    active: input.active ?? true,
    actor: input.actors.map((reference): Reference => ({ reference })),
  };
  if (input.serviceType !== undefined) schedule.serviceType = [...input.serviceType];
  if (input.specialty !== undefined) schedule.specialty = [...input.specialty];
  if (input.comment !== undefined) schedule.comment = input.comment;
  return schedule;
}

export function practitionerResource(id: string, family: string, given: string, active = true): Practitioner & { id: string } {
  return { resourceType: 'Practitioner', id, active, name: [{ family, given: [given], prefix: ['Dr.'] }] };
}

export function roomType(code: string, display: string): CodeableConcept {
  return { coding: [{ system: DEMO_ROOM_TYPE_SYSTEM, code, display }] };
}

export const EXAM_ROOM = roomType('exam-room', 'Exam room');
export const PROCEDURE_ROOM = roomType('procedure-room', 'Procedure room');

export function locationResource(id: string, name: string, type: CodeableConcept, organization?: string): Location & { id: string } {
  const location: Location & { id: string } = { resourceType: 'Location', id, status: 'active', name, type: [type] };
  if (organization !== undefined) location.managingOrganization = { reference: organization };
  return location;
}

export function serviceCoding(code: string, display: string): Coding {
  return { system: DEMO_SERVICE_SYSTEM, code, display };
}

export interface ServiceInput {
  id: string;
  type: Coding;
  specialty: CodeableConcept;
  durationMinutes: number;
  requiredLocationType?: CodeableConcept;
  organization?: string;
}

/** A HealthcareService as an appointment type (SPEC §4.3). */
export function serviceResource(input: ServiceInput): HealthcareService & { id: string } {
  const extension: Extension[] = [{ url: SERVICE_DURATION_URL, valuePositiveInt: input.durationMinutes }];
  if (input.requiredLocationType !== undefined) extension.push({ url: REQUIRED_LOCATION_TYPE_URL, valueCodeableConcept: input.requiredLocationType });
  const service: HealthcareService & { id: string } = {
    resourceType: 'HealthcareService',
    id: input.id,
    extension,
    active: true,
    name: input.type.display ?? input.id,
    type: [{ coding: [input.type] }],
    specialty: [input.specialty],
  };
  if (input.organization !== undefined) service.providedBy = { reference: input.organization };
  return service;
}

export const CHECKUP = serviceCoding('checkup', 'Checkup');
export const CARDIOLOGY_CONSULT = serviceCoding('cardiology-consult', 'Cardiology consult');
export const MINOR_PROCEDURE = serviceCoding('minor-procedure', 'Minor procedure');
export const FULL_PHYSICAL = serviceCoding('full-physical', 'Full physical');

/** Ids of the demo clinic's resources, for tests and the loader's summary. */
export const CLINIC = {
  organization: 'demo-clinic',
  doctors: {
    papadopoulou: 'dr-papadopoulou',
    georgiou: 'dr-georgiou',
    nikolaou: 'dr-nikolaou',
    alexiou: 'dr-alexiou',
  },
  rooms: { exam1: 'exam-room-1', exam2: 'exam-room-2', procedure: 'procedure-room' },
  services: { checkup: 'svc-checkup', cardiologyConsult: 'svc-cardiology-consult', minorProcedure: 'svc-minor-procedure', fullPhysical: 'svc-full-physical' },
  schedules: {
    papadopoulou: 'sch-dr-papadopoulou',
    georgiou: 'sch-dr-georgiou',
    nikolaou: 'sch-dr-nikolaou',
    alexiou: 'sch-dr-alexiou',
    procedureRoom: 'sch-procedure-room',
  },
} as const;

export type ClinicResource =
  | Organization
  | Practitioner
  | PractitionerRole
  | Location
  | HealthcareService
  | Schedule;

/** Every resource of the demo clinic, in an order in which each one's references already exist. */
export function demoClinic(): Array<ClinicResource & { id: string }> {
  const org = `Organization/${CLINIC.organization}`;
  const d = CLINIC.doctors;
  const doctors: Array<{ id: string; family: string; given: string; specialty: CodeableConcept; services: Coding[] }> = [
    { id: d.papadopoulou, family: 'Papadopoulou', given: 'Eleni', specialty: GENERAL_MEDICINE, services: [CHECKUP, MINOR_PROCEDURE, FULL_PHYSICAL] },
    { id: d.georgiou, family: 'Georgiou', given: 'Nikos', specialty: GENERAL_MEDICINE, services: [CHECKUP, MINOR_PROCEDURE, FULL_PHYSICAL] },
    { id: d.nikolaou, family: 'Nikolaou', given: 'Maria', specialty: CARDIOLOGY, services: [CARDIOLOGY_CONSULT] },
    { id: d.alexiou, family: 'Alexiou', given: 'Kostas', specialty: CARDIOLOGY, services: [CARDIOLOGY_CONSULT] },
  ];
  const resources: Array<ClinicResource & { id: string }> = [
    { resourceType: 'Organization', id: CLINIC.organization, active: true, name: 'Kairos Demo Clinic' },
    locationResource(CLINIC.rooms.exam1, 'Exam room 1', EXAM_ROOM, org),
    locationResource(CLINIC.rooms.exam2, 'Exam room 2', EXAM_ROOM, org),
    locationResource(CLINIC.rooms.procedure, 'Procedure room', PROCEDURE_ROOM, org),
  ];
  for (const doctor of doctors) {
    resources.push(practitionerResource(doctor.id, doctor.family, doctor.given));
    resources.push({
      resourceType: 'PractitionerRole',
      id: `role-${doctor.id}`,
      active: true,
      practitioner: { reference: `Practitioner/${doctor.id}` },
      organization: { reference: org },
      specialty: [doctor.specialty],
    });
  }
  const s = CLINIC.services;
  resources.push(
    serviceResource({ id: s.checkup, type: CHECKUP, specialty: GENERAL_MEDICINE, durationMinutes: 15, organization: org }),
    serviceResource({ id: s.cardiologyConsult, type: CARDIOLOGY_CONSULT, specialty: CARDIOLOGY, durationMinutes: 30, organization: org }),
    serviceResource({
      id: s.minorProcedure,
      type: MINOR_PROCEDURE,
      specialty: GENERAL_MEDICINE,
      durationMinutes: 45,
      requiredLocationType: PROCEDURE_ROOM,
      organization: org,
    }),
    serviceResource({ id: s.fullPhysical, type: FULL_PHYSICAL, specialty: GENERAL_MEDICINE, durationMinutes: 60, organization: org }),
  );
  for (const doctor of doctors) {
    resources.push(
      scheduleResource({
        id: `sch-${doctor.id}`,
        actors: [`Practitioner/${doctor.id}`],
        serviceType: doctor.services.map((c) => ({ coding: [c] })),
        specialty: [doctor.specialty],
        availability: { slotMinutes: 15 },
        policy: CLINIC_POLICY,
        comment: `Dr. ${doctor.family}`,
      }),
    );
  }
  // The room's own schedule offers no service by itself: SPEC §4.3 pairs it with a doctor's time.
  resources.push(
    scheduleResource({
      id: CLINIC.schedules.procedureRoom,
      actors: [`Location/${CLINIC.rooms.procedure}`],
      availability: { slotMinutes: 15 },
      policy: CLINIC_POLICY,
      comment: 'Procedure room',
    }),
  );
  return resources;
}
