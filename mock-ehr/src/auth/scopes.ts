/**
 * SMART App Launch 2.x scopes ("Scopes and Launch Context"): `<context>/<resourceType|*>.<permissions>` where
 * permissions are v2 letters in the order c r u d s, or the v1 words `read` (= rs), `write` (= cud) and `*`.
 */

export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface ResourceScope {
  context: ScopeContext;
  resourceType: string;
  permissions: ReadonlySet<Permission>;
}

const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.(read|write|\*|c?r?u?d?s?)(\?.*)?$/;

const V1_PERMISSIONS: Record<string, Permission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

export function parseScope(scope: string): ResourceScope | undefined {
  const match = RESOURCE_SCOPE.exec(scope);
  if (!match) return undefined;
  const [, context, resourceType, permissionText] = match;
  if (context === undefined || resourceType === undefined || permissionText === undefined || permissionText === '') {
    return undefined;
  }
  const permissions = V1_PERMISSIONS[permissionText] ?? (permissionText.split('') as Permission[]);
  return { context: context as ScopeContext, resourceType, permissions: new Set(permissions) };
}

export function splitScopes(scope: string | undefined): string[] {
  return (scope ?? '').split(/\s+/).filter(Boolean);
}

/** Whether the granted scopes allow `permission` on `resourceType` (any context). */
export function isPermitted(grantedScopes: readonly string[], resourceType: string, permission: Permission): boolean {
  return grantedScopes.some((scope) => {
    const parsed = parseScope(scope);
    return (
      parsed !== undefined &&
      (parsed.resourceType === '*' || parsed.resourceType === resourceType) &&
      parsed.permissions.has(permission)
    );
  });
}

/**
 * Whether a requested scope is covered by a registered one: identical, or a resource scope whose context matches
 * and whose permissions are a subset (`patient/Observation.crs` ⊆ `patient/Observation.cruds`; SMART 2.x lets the
 * server grant what the client is allowed, and v1 `.read` equals v2 `.rs`).
 */
export function isScopeCovered(requested: string, allowed: ReadonlySet<string>): boolean {
  if (allowed.has(requested)) return true;
  const wanted = parseScope(requested);
  if (!wanted || requested.includes('?')) return false;
  return [...allowed].some((scope) => {
    const granted = parseScope(scope);
    return (
      granted !== undefined &&
      !scope.includes('?') &&
      granted.context === wanted.context &&
      (granted.resourceType === '*' || granted.resourceType === wanted.resourceType) &&
      [...wanted.permissions].every((permission) => granted.permissions.has(permission))
    );
  });
}

/**
 * Whether a user/ or system/ scope covers the resource type (any type when none is named), i.e. whether access to it
 * is not limited to the launch patient. SMART App Launch 2.x scopes are per resource type: `user/Practitioner.r`
 * (to read the signed-in user) lifts nothing for Observations or imaging.
 */
export function hasNonPatientScope(grantedScopes: readonly string[], resourceType?: string): boolean {
  return grantedScopes.some((scope) => {
    const parsed = parseScope(scope);
    if (parsed?.context !== 'user' && parsed?.context !== 'system') return false;
    return resourceType === undefined || parsed.resourceType === '*' || parsed.resourceType === resourceType;
  });
}
