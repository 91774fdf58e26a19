/**
 * `_include` on searches (R4 search.html#include), which medplum's in-memory repository ignores: for each
 * `_include=<SourceType>:<searchParam>[:<TargetType>]` of a search on SourceType, the resources the matches reference
 * through that reference search parameter (its FHIRPath expression, e.g. `DiagnosticReport.result`) are added to the
 * page once each, as entries with `search.mode: include`. Only resource types the token may read are added (SMART:
 * an include is a read); the patient filter that follows (access-control.ts `filterBundleForPatient`) keeps a
 * patient-level token inside its compartment for them as for the matches. Not supported, with a 400 naming it:
 * `_include=*`, `:iterate`, a parameter that is not a reference search parameter of SourceType.
 */
import { evalFhirPath, getSearchParameter } from '@medplum/core';
import type { Bundle, BundleEntry, Reference, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../http/errors';

/** R4 datatypes.html#id. */
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

export interface IncludeSources {
  /** The stored resource, or undefined when there is none. */
  read(resourceType: string, id: string): Promise<Resource | undefined>;
  /** Whether the token may read this resource type. */
  mayRead(resourceType: string): boolean;
  fhirBaseUrl: string;
}

interface IncludeSpec {
  expression: string;
  targetType?: string;
}

function includeSpecOf(value: string, searchedType: string): IncludeSpec {
  const [sourceType, code, targetType, ...rest] = value.split(':');
  if (value === '*' || rest.length > 0 || sourceType === undefined || code === undefined)
    throw badRequest(`_include=${value} is not supported: name <SourceType>:<searchParam>[:<TargetType>]`);
  if (sourceType !== searchedType)
    throw badRequest(`_include=${value}: this search is on ${searchedType}, not ${sourceType}`);
  const parameter = getSearchParameter(sourceType, code);
  if (parameter?.type !== 'reference' || !parameter.expression)
    throw badRequest(`_include=${value}: "${code}" is not a reference search parameter of ${sourceType}`);
  return { expression: parameter.expression, ...(targetType ? { targetType } : {}) };
}

/** The search page with the resources its `_include` values name added (none asked: the page as it is). */
export async function withIncludes(
  bundle: Bundle,
  searchedType: string,
  includes: readonly string[],
  sources: IncludeSources,
): Promise<Bundle> {
  if (includes.length === 0) return bundle;
  const specs = includes.map((value) => includeSpecOf(value, searchedType));
  const matches = (bundle.entry ?? []).flatMap((entry) => (entry.resource ? [entry.resource] : []));
  const present = new Set(matches.map((resource) => `${resource.resourceType}/${resource.id ?? ''}`));
  const wanted: [string, string][] = [];
  for (const { expression, targetType } of specs) {
    for (const resource of matches) {
      for (const value of evalFhirPath(expression, resource)) {
        const match = RELATIVE_REFERENCE.exec((value as Reference | undefined)?.reference ?? '');
        const [, type, id] = match ?? [];
        if (type === undefined || id === undefined || (targetType !== undefined && type !== targetType)) continue;
        if (present.has(`${type}/${id}`) || !sources.mayRead(type)) continue;
        present.add(`${type}/${id}`);
        wanted.push([type, id]);
      }
    }
  }
  const included: BundleEntry[] = [];
  for (const [type, id] of wanted) {
    const resource = await sources.read(type, id);
    if (resource)
      included.push({ fullUrl: `${sources.fhirBaseUrl}/${type}/${id}`, resource, search: { mode: 'include' } });
  }
  return { ...bundle, entry: [...(bundle.entry ?? []), ...included] };
}
