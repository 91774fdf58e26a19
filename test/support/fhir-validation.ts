/**
 * An independent FHIR R4 validator for tests: `validateFhir(resource)` returns one message per problem, [] when valid.
 *
 * Two layers:
 * 1. FHIR.js (`fhir` 4.12.0) checks the resource against the R4 specification it ships: element names (unknown ones
 *    are errors), cardinality, data types, required bindings to the spec's value sets, reference target types, and
 *    Bundle entries as resources of their own. Its primitive patterns are unanchored (`1.5` passes as an integer), so
 *    anchored R4 patterns (datatypes.html §2.24.0.1) are checked in its per-property hook.
 * 2. What FHIR.js cannot check (it validates against the base resource named by `resourceType` only — it ignores
 *    `meta.profile`, fixed values, patterns and slices, so a profile of ours would not be enforced) is checked here
 *    against our own definitions in `server/fhir-definitions/`, read from the JSON, not from the server's modules:
 *    - every Coding of the ldh-cds CodeSystem names a concept it defines, with the same display;
 *    - an Observation component whose code is one of our observables has a value of the right kind, from the matching
 *      ValueSet (msu-grade → ValueSet msu-grade, …);
 *    - a level Observation (code DCM 121071 "Finding", or any ldh-cds component) has that code, a value from ValueSet
 *      level-finding and a bodySite from ValueSet disc-level — what a profile of ours would require;
 *    - in a transaction or batch Bundle every entry has a request (R4 invariant bdl-3), fullUrls are unique (bdl-7)
 *      and every `urn:uuid:` reference names an entry's fullUrl (http.html §3.1.0.11.2);
 *    - no empty strings or nulls (json.html §2.6.2).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fhirJs from 'fhir';
import type { ValidatorOptions } from 'fhir';
import type { CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4';

// FHIR.js is CommonJS whose re-exports Node's ESM loader cannot name: take them from the default export.
const { Fhir, ParseConformance } = fhirJs;

const DEFINITIONS_DIR = path.join(import.meta.dirname, '../../server/fhir-definitions');
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const FINDING = { code: '121071', display: 'Finding' };

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const show = (value: unknown): string => (value === undefined ? 'none' : JSON.stringify(value));

// ---- Our definitions, read from the shipped JSON -------------------------------------------------------------------

function readDefinitions(): { codeSystem: CodeSystem; valueSets: ValueSet[] } {
  const resources = readdirSync(DEFINITIONS_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(readFileSync(path.join(DEFINITIONS_DIR, file), 'utf8')) as CodeSystem | ValueSet);
  const codeSystems = resources.filter((resource): resource is CodeSystem => resource.resourceType === 'CodeSystem');
  const [codeSystem] = codeSystems;
  if (!codeSystem || codeSystems.length > 1) throw new Error(`expected one CodeSystem in ${DEFINITIONS_DIR}`);
  const valueSets = resources.filter((resource): resource is ValueSet => resource.resourceType === 'ValueSet');
  return { codeSystem, valueSets };
}

const definitions = readDefinitions();
const LDH_CDS = definitions.codeSystem.url ?? '';

const flatten = (concepts: CodeSystemConcept[] = []): CodeSystemConcept[] =>
  concepts.flatMap((concept) => [concept, ...flatten(concept.concept)]);
const ldhConcepts = new Map(flatten(definitions.codeSystem.concept).map((concept) => [concept.code, concept]));

function valueSetUrl(id: string): string {
  const url = definitions.valueSets.find((valueSet) => valueSet.id === id)?.url;
  if (!url) throw new Error(`ValueSet ${id} is missing from ${DEFINITIONS_DIR}`);
  return url;
}

// FHIR.js parses our ValueSets into its own expansions (parsedValueSets), which the checks below use. Our CodeSystem
// is deliberately not loaded (loadCodeSystem): FHIR.js would then put every concept of a loaded system into any
// ValueSet that includes that system, ignoring the include's concept list — msu-grade would accept zone codes.
const parser = new ParseConformance(true);
parser.parsedValueSets = { ...parser.parsedValueSets }; // the cached spec value sets are shared; add ours to a copy
for (const valueSet of definitions.valueSets) parser.parseValueSet(valueSet);
const fhir = new Fhir(parser);

function valueSetMembers(url: string): Set<string> {
  const parsed = parser.parsedValueSets[url];
  if (!parsed) throw new Error(`FHIR.js could not parse ValueSet ${url}`);
  return new Set(parsed.systems.flatMap((system) => system.codes.map((concept) => `${system.uri}|${concept.code}`)));
}

// ---- Layer 1: FHIR.js and anchored primitive patterns ----------------------------------------------------------------

/** R4 primitive patterns (datatypes.html), anchored. */
const PRIMITIVE_PATTERNS: Partial<Record<string, RegExp>> = {
  date: /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$/,
  dateTime:
    /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/,
  instant:
    /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/,
  time: /^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$/,
  code: /^[^\s]+(\s[^\s]+)*$/,
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  oid: /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  uri: /^\S*$/,
  url: /^\S*$/,
  canonical: /^\S*$/,
};
const STRING_TYPES = new Set([...Object.keys(PRIMITIVE_PATTERNS), 'string', 'markdown', 'base64Binary']);
const INTEGER_MINIMUM: Partial<Record<string, number>> = { integer: -2147483648, unsignedInt: 0, positiveInt: 1 };

function primitiveProblem(type: string, value: unknown): string | undefined {
  const minimum = INTEGER_MINIMUM[type];
  if (minimum !== undefined) {
    const valid = typeof value === 'number' && Number.isInteger(value) && value >= minimum && value <= 2147483647;
    return valid ? undefined : `${JSON.stringify(value)} is not a valid ${type}`;
  }
  if (type === 'decimal')
    return typeof value === 'number' ? undefined : `${JSON.stringify(value)} is not a JSON number`;
  if (!STRING_TYPES.has(type)) return undefined;
  if (typeof value !== 'string') return `${JSON.stringify(value)} is not a string (${type})`;
  const pattern = PRIMITIVE_PATTERNS[type];
  return pattern && !pattern.test(value) ? `"${value}" is not a valid ${type}` : undefined;
}

function validateWithFhirJs(resource: Json): string[] {
  const topId = asString(resource.id);
  const primitiveErrors: string[] = [];
  const options: ValidatorOptions = {
    errorOnUnexpected: true,
    // Called for every present, truthy property value (an array for repeating elements), nested types included.
    onBeforeValidateProperty: (_resource, property, location, value) => {
      for (const item of Array.isArray(value) ? (value as unknown[]) : [value]) {
        const problem = primitiveProblem(property._type, item);
        if (problem) primitiveErrors.push(`${location}: ${problem}`);
      }
      return [];
    },
  };
  const fhirJsErrors = fhir
    .validate(resource, options)
    .messages.filter((message) => {
      // index.js does not export the Severities enum the typings declare: compare its string values.
      const severity: string | undefined = message.severity;
      return severity === 'error' || severity === 'fatal';
    })
    .map((message) => {
      // Entries of a Bundle are validated as resources of their own: say which entry.
      const within =
        message.resourceId && message.resourceId !== '#initial' && message.resourceId !== topId
          ? `${message.resourceId} → `
          : '';
      return `${within}${message.location ?? ''}: ${message.message ?? 'invalid'}`;
    });
  return [...fhirJsErrors, ...primitiveErrors];
}

// ---- Layer 2: our definitions ----------------------------------------------------------------------------------------

type ComponentRule =
  { kind: 'coded'; valueSet: string } | { kind: 'fraction' } | { kind: 'dicom-uid' } | { kind: 'frame-number' };

const coded = (valueSetId: string): ComponentRule => ({ kind: 'coded', valueSet: valueSetUrl(valueSetId) });

/** The value each observable of ours takes as an Observation component (see its definition in the CodeSystem). */
const COMPONENT_RULES: Partial<Record<string, ComponentRule>> = {
  'msu-class': coded('msu-class'),
  'msu-grade': coded('msu-grade'),
  'msu-zone': coded('msu-zone'),
  'herniation-side': coded('herniation-side'),
  'level-assignment-method': coded('level-assignment-method'),
  // The clinician's review (docs/fhir-mapping.md §Clinician review): the decision, a rejection's reason, and the AI's
  // original reading kept beside an edited one, each from the ValueSet of the reading it copies.
  'review-decision': coded('review-decision'),
  'rejection-reason': coded('rejection-reason'),
  'ai-herniation': coded('level-finding'),
  'ai-msu-class': coded('msu-class'),
  'ai-msu-grade': coded('msu-grade'),
  'ai-msu-zone': coded('msu-zone'),
  'ai-herniation-side': coded('herniation-side'),
  'model-confidence': { kind: 'fraction' },
  'key-image-study-uid': { kind: 'dicom-uid' },
  'key-image-series-uid': { kind: 'dicom-uid' },
  'key-image-sop-instance-uid': { kind: 'dicom-uid' },
  'sr-instance-uid': { kind: 'dicom-uid' },
  'key-image-frame': { kind: 'frame-number' },
};

/** DICOM PS3.5 §9.1: components of digits without leading zeros, separated by dots, at most 64 characters. */
const DICOM_UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

const codingsOf = (concept: unknown): Json[] => (isObject(concept) ? asArray(concept.coding).filter(isObject) : []);
const ldhCodesOf = (concept: unknown): string[] =>
  codingsOf(concept)
    .filter((coding) => coding.system === LDH_CDS)
    .flatMap((coding) => asString(coding.code) ?? []);
const hasCoding = (concept: unknown, system: string, code: string): boolean =>
  codingsOf(concept).some((coding) => coding.system === system && coding.code === code);
const label = (coding: Json): string => `${asString(coding.system) ?? '(no system)'}#${asString(coding.code) ?? ''}`;

function checkLdhCoding(coding: Json, at: string, errors: string[]): void {
  const code = asString(coding.code) ?? '';
  const concept = ldhConcepts.get(code);
  if (!concept) {
    errors.push(`${at}: code "${code}" is not defined in CodeSystem ${LDH_CDS}`);
  } else if (coding.display !== undefined && coding.display !== concept.display) {
    errors.push(
      `${at}: display ${JSON.stringify(coding.display)} of ldh-cds#${code} should be "${concept.display ?? ''}" (CodeSystem ${LDH_CDS})`,
    );
  }
}

/** A required binding: some Coding is in the ValueSet, and none of the ValueSet's systems carries a code outside it. */
function checkInValueSet(concept: unknown, url: string, at: string, errors: string[]): void {
  const members = valueSetMembers(url);
  const systems = new Set([...members].map((member) => member.slice(0, member.lastIndexOf('|'))));
  const codings = codingsOf(concept);
  const outside = codings.filter(
    (coding) =>
      systems.has(asString(coding.system) ?? '') &&
      !members.has(`${asString(coding.system) ?? ''}|${asString(coding.code) ?? ''}`),
  );
  for (const coding of outside) errors.push(`${at}: code ${label(coding)} is not in ValueSet ${url}`);
  const inside = codings.some((coding) =>
    members.has(`${asString(coding.system) ?? ''}|${asString(coding.code) ?? ''}`),
  );
  if (!inside && outside.length === 0) {
    const got = codings.map(label).join(', ') || 'no coding';
    errors.push(`${at}: needs a coding from ValueSet ${url} (got ${got})`);
  }
}

function checkComponent(component: Json, code: string, rule: ComponentRule, at: string, errors: string[]): void {
  switch (rule.kind) {
    case 'coded':
      if (!isObject(component.valueCodeableConcept)) {
        errors.push(`${at}: ${code} needs valueCodeableConcept from ValueSet ${rule.valueSet}`);
      } else {
        checkInValueSet(component.valueCodeableConcept, rule.valueSet, `${at}.valueCodeableConcept`, errors);
      }
      return;
    case 'fraction': {
      const value = isObject(component.valueQuantity) ? component.valueQuantity.value : undefined;
      if (typeof value !== 'number' || value < 0 || value > 1) {
        errors.push(`${at}: ${code} needs valueQuantity.value from 0 to 1 (got ${show(value)})`);
      }
      return;
    }
    case 'dicom-uid': {
      const value = component.valueString;
      if (typeof value !== 'string' || value.length > 64 || !DICOM_UID.test(value)) {
        errors.push(`${at}: ${code} needs valueString holding a DICOM UID (got ${show(value)})`);
      }
      return;
    }
    case 'frame-number': {
      const value = component.valueInteger;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        errors.push(`${at}: ${code} needs valueInteger ≥ 1 (got ${show(value)})`);
      }
    }
  }
}

function checkObservation(observation: Json, at: string, errors: string[]): void {
  const components = asArray(observation.component);
  const componentCodes = new Map<string, Json>();
  components.forEach((component, index) => {
    if (!isObject(component)) return;
    for (const code of ldhCodesOf(component.code)) {
      componentCodes.set(code, component);
      const rule = COMPONENT_RULES[code];
      if (rule) checkComponent(component, code, rule, `${at}.component[${index}]`, errors);
    }
  });

  // A level Observation: what the level-finding profile would require (FHIR.js would not enforce the profile).
  if (!hasCoding(observation.code, DCM, FINDING.code) && componentCodes.size === 0) return;
  const finding = codingsOf(observation.code).find((coding) => coding.system === DCM && coding.code === FINDING.code);
  if (!finding) {
    errors.push(`${at}.code: a level Observation's code is DCM ${FINDING.code} "${FINDING.display}" (${DCM})`);
  } else if (finding.display !== undefined && finding.display !== FINDING.display) {
    errors.push(`${at}.code: display of DCM ${FINDING.code} should be "${FINDING.display}"`);
  }
  if (!isObject(observation.valueCodeableConcept)) {
    errors.push(`${at}: a level Observation needs valueCodeableConcept from ValueSet ${valueSetUrl('level-finding')}`);
  } else {
    checkInValueSet(
      observation.valueCodeableConcept,
      valueSetUrl('level-finding'),
      `${at}.valueCodeableConcept`,
      errors,
    );
  }
  if (!isObject(observation.bodySite)) {
    errors.push(`${at}: a level Observation needs bodySite from ValueSet ${valueSetUrl('disc-level')}`);
  } else {
    checkInValueSet(observation.bodySite, valueSetUrl('disc-level'), `${at}.bodySite`, errors);
  }

  // The class agrees with the grade and zone beside it (the CodeSystem's grade/zone properties of each class), for the
  // signed reading and for the AI's reading kept beside an edited one.
  for (const prefix of ['', 'ai-']) {
    const [msuClass] = ldhCodesOf(componentCodes.get(`${prefix}msu-class`)?.valueCodeableConcept);
    const [grade] = ldhCodesOf(componentCodes.get(`${prefix}msu-grade`)?.valueCodeableConcept);
    const [zone] = ldhCodesOf(componentCodes.get(`${prefix}msu-zone`)?.valueCodeableConcept);
    const properties = msuClass ? (ldhConcepts.get(msuClass)?.property ?? []) : [];
    const propertyOf = (name: string): string | undefined => properties.find((p) => p.code === name)?.valueCode;
    if (msuClass && grade && propertyOf('grade') && propertyOf('grade') !== grade) {
      errors.push(`${at}.component: ${prefix}MSU class ${msuClass} disagrees with grade ${grade}`);
    }
    if (msuClass && zone && propertyOf('zone') && propertyOf('zone') !== zone) {
      errors.push(`${at}.component: ${prefix}MSU class ${msuClass} disagrees with zone ${zone}`);
    }
  }
}

function checkBundle(bundle: Json, at: string, errors: string[]): void {
  const entries = asArray(bundle.entry).filter(isObject);
  const isTransaction = bundle.type === 'transaction' || bundle.type === 'batch';
  const fullUrls = new Set<string>();
  entries.forEach((entry, index) => {
    if (isTransaction && !isObject(entry.request)) {
      errors.push(`${at}.entry[${index}]: a ${String(bundle.type)} entry needs request (bdl-3)`);
    }
    const fullUrl = asString(entry.fullUrl);
    if (fullUrl && fullUrls.has(fullUrl))
      errors.push(`${at}.entry[${index}].fullUrl: "${fullUrl}" is not unique (bdl-7)`);
    if (fullUrl) fullUrls.add(fullUrl);
  });
  entries.forEach((entry, index) => {
    checkUuidReferences(entry.resource, `${at}.entry[${index}].resource`, fullUrls, errors);
  });
}

/** Transaction processing replaces `urn:uuid:` references by the ids it assigns to the entries they name. */
function checkUuidReferences(node: unknown, at: string, fullUrls: Set<string>, errors: string[]): void {
  if (Array.isArray(node)) {
    node.forEach((item, index) => {
      checkUuidReferences(item, `${at}[${index}]`, fullUrls, errors);
    });
  }
  if (!isObject(node)) return;
  const reference = asString(node.reference);
  if (reference?.startsWith('urn:uuid:') && !fullUrls.has(reference)) {
    errors.push(`${at}.reference: "${reference}" names no entry of the Bundle`);
  }
  for (const [key, value] of Object.entries(node)) checkUuidReferences(value, `${at}.${key}`, fullUrls, errors);
}

function checkAgainstDefinitions(node: unknown, at: string, errors: string[], inArray = false): void {
  if (node === null) {
    // json.html: null only pads primitive arrays to line them up with their `_` extensions.
    if (!inArray) errors.push(`${at}: null is not allowed`);
    return;
  }
  if (node === '') {
    errors.push(`${at}: empty strings are not allowed`);
    return;
  }
  if (Array.isArray(node)) {
    node.forEach((item, index) => {
      checkAgainstDefinitions(item, `${at}[${index}]`, errors, true);
    });
    return;
  }
  if (!isObject(node)) return;
  if (node.system === LDH_CDS && typeof node.code === 'string') checkLdhCoding(node, at, errors);
  if (node.system === LDH_CDS && Array.isArray(node.concept)) {
    // A ValueSet's compose.include of our system.
    node.concept.forEach((concept, index) => {
      if (isObject(concept)) checkLdhCoding(concept, `${at}.concept[${index}]`, errors);
    });
  }
  if (node.resourceType === 'Observation') checkObservation(node, at, errors);
  if (node.resourceType === 'Bundle') checkBundle(node, at, errors);
  for (const [key, value] of Object.entries(node)) checkAgainstDefinitions(value, `${at}.${key}`, errors);
}

/** Every problem of a FHIR R4 resource (a Bundle's entries included) against the specification and our definitions. */
export function validateFhir(resource: unknown): string[] {
  if (!isObject(resource) || typeof resource.resourceType !== 'string') {
    return ['(root): not a FHIR resource: an object with a resourceType is expected'];
  }
  const errors = validateWithFhirJs(resource);
  checkAgainstDefinitions(resource, resource.resourceType, errors);
  return [...new Set(errors)];
}
