import type { IssueCode } from './outcome';
import { RESOURCE_TYPES, isResourceType } from './resource-types';
import type { ResourceType } from './resource-types';

/**
 * The R4 rules the JSON Schema cannot express: minimum cardinality of primitive elements, the JSON
 * representation rules (no empty arrays, strings or objects), reference target types, and the
 * invariants of Kairos' resource types. Pure functions over parsed JSON; they never assume the input
 * passed the schema.
 */

export interface ValidationIssue {
  status: 400 | 422;
  code: IssueCode;
  diagnostics: string;
  /** FHIRPath of the offending element, e.g. `Appointment.participant[0].status`. */
  expression: string;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON arrays and single values alike, as FHIRPath sees them. */
function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** R4 Appointment.participant.actor and Schedule.actor allow the same seven types. */
const SCHEDULABLE_ACTORS = [
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'RelatedPerson',
  'Device',
  'HealthcareService',
  'Location',
] as const;
/** R4 AuditEvent.agent.who and AuditEvent.source.observer. */
const AUDIT_ACTORS = ['PractitionerRole', 'Practitioner', 'Organization', 'Device', 'Patient', 'RelatedPerson'] as const;

/**
 * Elements with min ≥ 1 (R4 4.0.1 profiles-resources.json), relative to the resource; a dotted path
 * is checked in every instance of its parent backbone element. `[x]` accepts any choice type.
 */
export const REQUIRED_ELEMENTS: Readonly<Record<ResourceType, readonly string[]>> = {
  Schedule: ['actor'],
  Slot: ['schedule', 'status', 'start', 'end'],
  Appointment: ['status', 'participant', 'participant.status'],
  Patient: ['communication.language', 'link.other', 'link.type'],
  Practitioner: ['qualification.code'],
  PractitionerRole: ['notAvailable.description'],
  Location: ['position.longitude', 'position.latitude'],
  HealthcareService: ['notAvailable.description'],
  Organization: [],
  AuditEvent: [
    'type',
    'recorded',
    'agent',
    'agent.requestor',
    'source',
    'source.observer',
    'entity.detail.type',
    'entity.detail.value[x]',
  ],
};

/** Reference elements and their allowed target types (R4 4.0.1 targetProfile; `Reference(Any)` omitted). */
export const REFERENCE_TARGETS: Readonly<Record<ResourceType, Readonly<Record<string, readonly string[]>>>> = {
  Schedule: { actor: SCHEDULABLE_ACTORS },
  Slot: { schedule: ['Schedule'] },
  Appointment: {
    reasonReference: ['Condition', 'Procedure', 'Observation', 'ImmunizationRecommendation'],
    slot: ['Slot'],
    basedOn: ['ServiceRequest'],
    'participant.actor': SCHEDULABLE_ACTORS,
  },
  Patient: {
    'contact.organization': ['Organization'],
    generalPractitioner: ['Organization', 'Practitioner', 'PractitionerRole'],
    managingOrganization: ['Organization'],
    'link.other': ['Patient', 'RelatedPerson'],
  },
  Practitioner: { 'qualification.issuer': ['Organization'] },
  PractitionerRole: {
    practitioner: ['Practitioner'],
    organization: ['Organization'],
    location: ['Location'],
    healthcareService: ['HealthcareService'],
    endpoint: ['Endpoint'],
  },
  Location: { managingOrganization: ['Organization'], partOf: ['Location'], endpoint: ['Endpoint'] },
  HealthcareService: {
    providedBy: ['Organization'],
    location: ['Location'],
    coverageArea: ['Location'],
    endpoint: ['Endpoint'],
  },
  Organization: { partOf: ['Organization'], endpoint: ['Endpoint'] },
  AuditEvent: { 'agent.who': AUDIT_ACTORS, 'agent.location': ['Location'], 'source.observer': AUDIT_ACTORS },
};

interface Located {
  value: unknown;
  expression: string;
}

/** Every instance of the element at `segments` under `resource`, with its FHIRPath (`participant[1].actor`). */
function locate(resource: JsonObject, prefix: string, segments: readonly string[]): Located[] {
  let current: Located[] = [{ value: resource, expression: prefix }];
  for (const name of segments) {
    const next: Located[] = [];
    for (const { value, expression } of current) {
      if (!isObject(value)) continue;
      const child = value[name];
      if (Array.isArray(child)) {
        child.forEach((item: unknown, i) => next.push({ value: item, expression: `${expression}.${name}[${i}]` }));
      } else if (child !== undefined && child !== null) {
        next.push({ value: child, expression: `${expression}.${name}` });
      }
    }
    if (next.length === 0) return next;
    current = next;
  }
  return current;
}

interface CompiledPath {
  path: string;
  /** The path split at its dots, without the last name. */
  parent: readonly string[];
  name: string;
}

function compilePaths(paths: readonly string[]): CompiledPath[] {
  return paths.map((path) => {
    const segments = path.split('.');
    return { path, parent: segments.slice(0, -1), name: segments[segments.length - 1] ?? path };
  });
}

interface CompiledReference {
  path: string;
  segments: readonly string[];
  targets: readonly string[];
}

// The tables above, split once at load so that validation does no string parsing of its own.
const REQUIRED_PATHS: ReadonlyMap<ResourceType, readonly CompiledPath[]> = new Map(
  RESOURCE_TYPES.map((t) => [t, compilePaths(REQUIRED_ELEMENTS[t])]),
);
const REFERENCE_PATHS: ReadonlyMap<ResourceType, readonly CompiledReference[]> = new Map(
  RESOURCE_TYPES.map((t) => [
    t,
    Object.entries(REFERENCE_TARGETS[t]).map(([path, targets]) => ({ path, segments: path.split('.'), targets })),
  ]),
);

/** R4 json.html: a primitive may be present as its value, its `_name` extension companion, or both. */
function hasElement(parent: JsonObject, name: string): boolean {
  const present = (key: string): boolean => {
    const v = parent[key];
    return v !== undefined && v !== null;
  };
  if (name.endsWith('[x]')) {
    const stem = name.slice(0, -3);
    return Object.keys(parent).some((k) => {
      const bare = k.startsWith('_') ? k.slice(1) : k;
      return bare.length > stem.length && bare.startsWith(stem) && /^[A-Z]/.test(bare.slice(stem.length)) && present(k);
    });
  }
  return present(name) || present(`_${name}`);
}

function checkRequired(type: ResourceType, resource: JsonObject, prefix: string, issues: ValidationIssue[]): void {
  for (const { path, parent, name } of REQUIRED_PATHS.get(type) ?? []) {
    const parents = parent.length === 0 ? [{ value: resource, expression: prefix }] : locate(resource, prefix, parent);
    for (const p of parents) {
      if (!isObject(p.value) || hasElement(p.value, name)) continue;
      issues.push({
        status: 422,
        code: 'required',
        diagnostics: `Missing required element ${type}.${path} (minimum cardinality 1)`,
        expression: `${p.expression}.${name}`,
      });
    }
  }
}

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE_REFERENCE = new RegExp(`^([A-Z][A-Za-z]+)/${ID}(/_history/${ID})?$`);
const ABSOLUTE_REFERENCE = new RegExp(`/([A-Z][A-Za-z]+)/${ID}(/_history/${ID})?$`);
// R4 http.html#trules: a conditional reference in a transaction, e.g. `Patient?identifier=x|1`.
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?\S+$/;
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

type ParsedReference =
  | { kind: 'contained'; id: string }
  | { kind: 'typed'; type: string }
  | { kind: 'untyped' }
  | { kind: 'malformed' };

/** R4 references.html: relative `Type/id`, `#contained`, `urn:uuid:`/`urn:oid:` and absolute URLs. */
export function parseReference(reference: string): ParsedReference {
  if (reference.startsWith('#')) return { kind: 'contained', id: reference.slice(1) };
  if (URI_SCHEME.test(reference)) {
    if (/^urn:/i.test(reference)) return { kind: 'untyped' };
    const match = ABSOLUTE_REFERENCE.exec(reference);
    return match?.[1] !== undefined ? { kind: 'typed', type: match[1] } : { kind: 'untyped' };
  }
  const match = RELATIVE_REFERENCE.exec(reference) ?? CONDITIONAL_REFERENCE.exec(reference);
  return match?.[1] !== undefined ? { kind: 'typed', type: match[1] } : { kind: 'malformed' };
}

function containedTypeOf(container: JsonObject, id: string): string | undefined {
  if (id === '') return container.resourceType === undefined ? undefined : String(container.resourceType);
  for (const c of asList(container.contained)) {
    if (isObject(c) && c.id === id && typeof c.resourceType === 'string') return c.resourceType;
  }
  return undefined;
}

function targetList(targets: readonly string[]): string {
  return targets.length === 1 ? `a ${targets[0] ?? ''}` : `one of ${targets.join(', ')}`;
}

function checkReferences(
  type: ResourceType,
  resource: JsonObject,
  container: JsonObject,
  prefix: string,
  issues: ValidationIssue[],
): void {
  for (const { path, segments, targets } of REFERENCE_PATHS.get(type) ?? []) {
    for (const { value, expression } of locate(resource, prefix, segments)) {
      if (!isObject(value)) continue;
      const element = `${type}.${path}`;
      const found: { type: string; expression: string }[] = [];
      if (typeof value.type === 'string' && value.type !== '') {
        // Reference.type is a type name or a StructureDefinition URL (R4 datatypes.html#Reference).
        found.push({ type: value.type.slice(value.type.lastIndexOf('/') + 1), expression: `${expression}.type` });
      }
      if (typeof value.reference === 'string' && value.reference !== '') {
        const parsed = parseReference(value.reference);
        const at = `${expression}.reference`;
        if (parsed.kind === 'malformed') {
          issues.push({
            status: 422,
            code: 'invalid',
            diagnostics:
              `${element}: '${value.reference}' is not a valid reference ` +
              '(expected Type/id, #id, urn:uuid: or an absolute URL)',
            expression: at,
          });
        } else if (parsed.kind === 'typed') {
          found.push({ type: parsed.type, expression: at });
        } else if (parsed.kind === 'contained') {
          const containedType = containedTypeOf(container, parsed.id);
          if (containedType === undefined) {
            issues.push({
              status: 422,
              code: 'invariant',
              diagnostics: `ref-1: ${element} refers to '${value.reference}', which is not a contained resource`,
              expression: at,
            });
          } else {
            found.push({ type: containedType, expression: at });
          }
        }
      }
      for (const f of found) {
        if (targets.includes(f.type)) continue;
        issues.push({
          status: 422,
          code: 'invalid',
          diagnostics: `${element} must reference ${targetList(targets)}, not ${f.type}`,
          expression: f.expression,
        });
      }
    }
  }
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 31);
}

/**
 * An instant/dateTime with time and zone as epoch milliseconds (fractions kept), `undefined` when it is
 * not of that form (the schema reports format errors) and `NaN` for a day the calendar lacks.
 */
export function instantToEpoch(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = INSTANT.exec(value);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  // Out-of-range fields are format errors the schema reports; only a missing calendar day is ours.
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60 || day < 1 || day > 31) return undefined;
  if (day > daysInMonth(year, month)) return Number.NaN;
  const fraction = m[7] === undefined ? 0 : Number(m[7]) * 1000;
  const offsetMinutes = m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  const minutes = (daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes;
  return (minutes * 60 + second) * 1000 + fraction;
}

/** Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil); Date.UTC is slower. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

function checkStartBeforeEnd(type: string, resource: JsonObject, prefix: string, issues: ValidationIssue[]): void {
  const start = instantToEpoch(resource.start);
  const end = instantToEpoch(resource.end);
  for (const [name, epoch] of [
    ['start', start],
    ['end', end],
  ] as const) {
    if (epoch !== undefined && Number.isNaN(epoch)) {
      issues.push({
        status: 422,
        code: 'invalid',
        diagnostics: `${type}.${name} ${describe(resource[name])} is not a calendar date`,
        expression: `${prefix}.${name}`,
      });
    }
  }
  if (start !== undefined && end !== undefined && start >= end) {
    issues.push({
      status: 422,
      code: 'invariant',
      diagnostics: `${type}.end (${String(resource.end)}) must be after ${type}.start (${String(resource.start)})`,
      expression: `${prefix}.end`,
    });
  }
}

function invariant(key: string, human: string, expression: string): ValidationIssue {
  return { status: 422, code: 'invariant', diagnostics: `${key}: ${human}`, expression };
}

const APPOINTMENT_UNTIMED_STATUSES: readonly unknown[] = ['proposed', 'cancelled', 'waitlist'];

/** R4 appointment.html constraints app-1..app-4 (expressions in profiles-resources.json). */
function checkAppointment(resource: JsonObject, prefix: string, issues: ValidationIssue[]): void {
  locate(resource, prefix, ['participant']).forEach(({ value, expression }) => {
    if (isObject(value) && !hasElement(value, 'type') && !hasElement(value, 'actor')) {
      issues.push(invariant('app-1', 'Either the type or actor on the participant SHALL be specified', expression));
    }
  });
  const hasStart = hasElement(resource, 'start');
  const hasEnd = hasElement(resource, 'end');
  const missing = hasStart ? `${prefix}.end` : `${prefix}.start`;
  if (hasStart !== hasEnd) {
    issues.push(invariant('app-2', 'Either start and end are specified, or neither', missing));
  }
  // The app-3 expression also allows `waitlist`, which its human text omits.
  if (!(hasStart && hasEnd) && !APPOINTMENT_UNTIMED_STATUSES.includes(resource.status)) {
    issues.push(
      invariant('app-3', 'Only proposed, cancelled or waitlist appointments can be missing start/end dates', missing),
    );
  }
  if (hasElement(resource, 'cancelationReason') && resource.status !== 'noshow' && resource.status !== 'cancelled') {
    issues.push(
      invariant(
        'app-4',
        'Cancelation reason is only used for appointments that have been cancelled, or no-show',
        `${prefix}.cancelationReason`,
      ),
    );
  }
  checkStartBeforeEnd('Appointment', resource, prefix, issues);
}

function checkTypeInvariants(type: ResourceType, resource: JsonObject, prefix: string, issues: ValidationIssue[]): void {
  switch (type) {
    case 'Appointment':
      checkAppointment(resource, prefix, issues);
      return;
    case 'Slot':
      // R4 has no Slot invariant for this, but a slot that ends before it starts holds no time.
      checkStartBeforeEnd('Slot', resource, prefix, issues);
      return;
    case 'Patient':
      for (const { value, expression } of locate(resource, prefix, ['contact'])) {
        if (!isObject(value)) continue;
        if (!['name', 'telecom', 'address', 'organization'].some((n) => hasElement(value, n))) {
          issues.push(
            invariant('pat-1', 'SHALL at least contain a contact\'s details or a reference to an organization', expression),
          );
        }
      }
      return;
    case 'Organization':
      if (!hasElement(resource, 'identifier') && !hasElement(resource, 'name')) {
        issues.push(invariant('org-1', 'The organization SHALL at least have a name or an identifier', prefix));
      }
      for (const [element, key] of [
        ['telecom', 'org-3'],
        ['address', 'org-2'],
      ] as const) {
        for (const { value, expression } of locate(resource, prefix, [element])) {
          if (isObject(value) && value.use === 'home') {
            const human = `The ${element} of an organization can never be of use 'home'`;
            issues.push(invariant(key, human, `${expression}.use`));
          }
        }
      }
      return;
    case 'AuditEvent':
      for (const { value, expression } of locate(resource, prefix, ['entity'])) {
        if (isObject(value) && hasElement(value, 'name') && hasElement(value, 'query')) {
          issues.push(invariant('sev-1', 'Either a name or a query (NOT both)', expression));
        }
      }
      return;
    case 'Schedule':
    case 'PractitionerRole':
    case 'Location':
    case 'HealthcareService':
    case 'Practitioner':
      return;
  }
}

/** Every `#…` string anywhere in the resource: the candidates for dom-3's "referenced from elsewhere". */
function localReferences(resource: JsonObject): Set<string> {
  const found = new Set<string>();
  const stack: unknown[] = [resource];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (typeof node === 'string') {
      if (node.startsWith('#')) found.add(node);
    } else if (Array.isArray(node)) {
      for (const item of node as unknown[]) stack.push(item);
    } else if (isObject(node)) {
      for (const key in node) stack.push(node[key]);
    }
  }
  return found;
}

/** R4 domainresource.html dom-2..dom-5, for a resource with contained resources. */
function checkContained(resource: JsonObject, prefix: string, issues: ValidationIssue[]): void {
  const contained = asList(resource.contained);
  if (contained.length === 0) return;
  const references = localReferences(resource);
  contained.forEach((c, i) => {
    if (!isObject(c)) return;
    const at = `${prefix}.contained[${i}]`;
    if (c.contained !== undefined) {
      issues.push(invariant('dom-2', 'A contained resource SHALL NOT contain nested resources', `${at}.contained`));
    }
    const refersToContainer = localReferences(c).has('#');
    if (!(typeof c.id === 'string' && references.has(`#${c.id}`)) && !refersToContainer) {
      issues.push(
        invariant('dom-3', 'A contained resource SHALL be referred to from elsewhere in the resource or refer to it', at),
      );
    }
    const meta = c.meta;
    if (isObject(meta)) {
      if (meta.versionId !== undefined || meta.lastUpdated !== undefined) {
        issues.push(
          invariant('dom-4', 'A contained resource SHALL NOT have a meta.versionId or a meta.lastUpdated', `${at}.meta`),
        );
      }
      if (meta.security !== undefined) {
        issues.push(invariant('dom-5', 'A contained resource SHALL NOT have a security label', `${at}.meta.security`));
      }
    }
  });
}

/**
 * Applies the per-type tables and invariants to `resource` and to the resources nested in it
 * (contained, Bundle.entry.resource, Parameters.parameter[.part].resource). `container` resolves
 * `#id` references: the resource itself, or for a contained resource the resource that holds it.
 */
function checkResource(resource: JsonObject, prefix: string, container: JsonObject, issues: ValidationIssue[]): void {
  const type = resource.resourceType;
  if (typeof type === 'string' && isResourceType(type)) {
    checkRequired(type, resource, prefix, issues);
    checkReferences(type, resource, container, prefix, issues);
    checkTypeInvariants(type, resource, prefix, issues);
  }
  if (container === resource) checkContained(resource, prefix, issues);
  asList(resource.contained).forEach((c, i) => {
    if (isObject(c)) checkResource(c, `${prefix}.contained[${i}]`, container, issues);
  });
  if (type === 'Bundle') {
    asList(resource.entry).forEach((entry, i) => {
      if (isObject(entry) && isObject(entry.resource)) {
        checkResource(entry.resource, `${prefix}.entry[${i}].resource`, entry.resource, issues);
      }
    });
  } else if (type === 'Parameters') {
    const visit = (parameters: unknown, at: string, key: 'parameter' | 'part'): void => {
      asList(parameters).forEach((p, i) => {
        if (!isObject(p)) return;
        const here = `${at}.${key}[${i}]`;
        if (isObject(p.resource)) checkResource(p.resource, `${here}.resource`, p.resource, issues);
        visit(p.part, here, 'part');
      });
    };
    visit(resource.parameter, prefix, 'parameter');
  }
}

interface WalkNode {
  value: unknown;
  parent: WalkNode | undefined;
  /** Property name (without the `_` of a primitive's extension companion) or array index. */
  key: string | number;
  depth: number;
}

/** The FHIRPath of a node, built only when an issue needs it. */
function pathOf(node: WalkNode, prefix: string): string {
  const parts: string[] = [];
  for (let n: WalkNode | undefined = node; n?.parent !== undefined; n = n.parent) {
    parts.push(typeof n.key === 'number' ? `[${n.key}]` : `.${n.key}`);
  }
  return prefix + parts.reverse().join('');
}

/**
 * R4 json.html representation rules, over the whole tree: arrays are never empty, and (ele-1) every
 * element has a value or children: no `""`, no `{}`. Also every Extension has a url and either a value
 * or nested extensions (ext-1), and a resource's Narrative has its status.
 *
 * Iterative, so hostile nesting cannot overflow the stack; returns false without finishing when the
 * tree is deeper than `maxDepth` (the schema code is recursive and must not see such input).
 */
export function checkRepresentation(
  root: JsonObject,
  prefix: string,
  maxDepth: number,
  issues: ValidationIssue[],
): boolean {
  const stack: WalkNode[] = [{ value: root, parent: undefined, key: '', depth: 1 }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const { value, depth } = node;
    if (depth > maxDepth) return false;
    if (value === '') {
      const at = pathOf(node, prefix);
      issues.push(invariant('ele-1', `${at} is an empty string; omit the element instead`, at));
    } else if (Array.isArray(value)) {
      if (value.length === 0) {
        const at = pathOf(node, prefix);
        issues.push({
          status: 422,
          code: 'invalid',
          diagnostics: `${at} is an empty array; R4 JSON omits an element rather than send []`,
          expression: at,
        });
      }
      // Pushed in reverse so that issues come out in document order.
      for (let i = value.length - 1; i >= 0; i--) {
        const v: unknown = value[i];
        if (v !== null && (typeof v === 'object' || v === '')) {
          stack.push({ value: v, parent: node, key: i, depth: depth + 1 });
        }
      }
    } else if (isObject(value)) {
      const keys = Object.keys(value);
      if (keys.length === 0 || (keys.length === 1 && keys[0] === 'id')) {
        const at = pathOf(node, prefix);
        issues.push(invariant('ele-1', `${at} has no value and no children`, at));
        continue;
      }
      if (typeof value.resourceType === 'string' && isObject(value.text) && !hasElement(value.text, 'status')) {
        const at = `${pathOf(node, prefix)}.text.status`;
        const diagnostics = 'Missing required element Narrative.status';
        issues.push({ status: 422, code: 'required', diagnostics, expression: at });
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] ?? '';
        const child = value[key];
        if (child === null || (typeof child !== 'object' && child !== '')) continue;
        const name = key.startsWith('_') ? key.slice(1) : key;
        const childNode: WalkNode = { value: child, parent: node, key: name, depth: depth + 1 };
        if ((key === 'extension' || key === 'modifierExtension') && Array.isArray(child)) {
          checkExtensions(child, childNode, prefix, issues);
        }
        stack.push(childNode);
      }
    }
  }
  return true;
}

function checkExtensions(extensions: unknown[], node: WalkNode, prefix: string, issues: ValidationIssue[]): void {
  extensions.forEach((ext, i) => {
    if (!isObject(ext)) return;
    const hasUrl = typeof ext.url === 'string';
    const hasValue = hasElement(ext, 'value[x]');
    const hasChildren = Array.isArray(ext.extension) && ext.extension.length > 0;
    if (hasUrl && hasValue !== hasChildren) return;
    const here = `${pathOf(node, prefix)}[${i}]`;
    if (!hasUrl) {
      const diagnostics = 'Missing required element Extension.url';
      issues.push({ status: 422, code: 'required', diagnostics, expression: `${here}.url` });
    }
    if (hasValue === hasChildren) {
      issues.push(invariant('ext-1', 'An extension must have either extensions or value[x], not both', here));
    }
  });
}

/**
 * The per-type required elements, reference targets and invariants, for a resource whose top level is
 * known to be an object with a resourceType, and for the resources nested in it.
 */
export function checkResourceRules(resource: JsonObject, prefix: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  checkResource(resource, prefix, resource, issues);
  return issues;
}
