/**
 * Prefetch (CDS Hooks 2.0 §Prefetch): the EHR fills each template of the service's discovery entry with the hook
 * context and runs the query against its own FHIR data, so the service need not call back. Tokens are only the
 * root-level ones the spec allows: `{{context.<field>}}` with a string value, `{{userPractitionerId}}` and
 * `{{userPractitionerRoleId}}`; a template naming anything else is left out (the service may answer 412).
 */
import type { Resource } from '@medplum/fhirtypes';
import type { FhirEngine } from '../fhir/fhir-engine';

const TOKEN = /\{\{\s*([A-Za-z.]+)\s*\}\}/g;

export function fillPrefetchTemplate(
  template: string,
  context: Record<string, unknown>,
  userId: string | undefined,
): string | undefined {
  const state = { unresolved: false };
  const filled = template.replace(TOKEN, (_match, name: string) => {
    let value: unknown;
    if (name.startsWith('context.') && name.split('.').length === 2) value = context[name.slice('context.'.length)];
    else if (name === 'userPractitionerId' && userId?.startsWith('Practitioner/')) value = userId.slice(13);
    if (typeof value !== 'string' || value === '') {
      state.unresolved = true;
      return '';
    }
    return encodeURIComponent(value);
  });
  return state.unresolved ? undefined : filled;
}

/** Runs every fillable template; a query that fails is sent as null (§Prefetch: "the EHR MAY … null"). */
export async function buildPrefetch(
  engine: FhirEngine,
  templates: Record<string, string> | undefined,
  context: Record<string, unknown>,
  userId: string | undefined,
): Promise<Record<string, Resource | null>> {
  const prefetch: Record<string, Resource | null> = {};
  for (const [key, template] of Object.entries(templates ?? {})) {
    const filled = fillPrefetchTemplate(template, context, userId);
    if (filled === undefined) continue;
    const [path = '', search = ''] = filled.split('?');
    try {
      const { resource } = await engine.handle({
        method: 'GET',
        path: `/${path.replace(/^\//, '')}`,
        query: new URLSearchParams(search),
        body: undefined,
        headers: {},
      });
      prefetch[key] = resource;
    } catch {
      prefetch[key] = null;
    }
  }
  return prefetch;
}
