/** The SMART client id registered for ldh-cds (smart-config/clients.json). */
export const SMART_CLIENT_ID = 'ldh-cds';

/**
 * Scopes requested at EHR launch — SMART App Launch 2.x, docs/fhir-mapping.md §SMART scopes:
 * `launch` (EHR launch context), `openid fhirUser` (who is signed in), v2 `.rs` read+search on the
 * patient's chart and imaging, `.crs` create+read+search on the results the app server writes back
 * (Observation per level, DiagnosticReport, the DocumentReference of the DICOM SR, the AI Provenance, the Device for
 * the model) using this user's token, `u` where a newer model's analysis supersedes an earlier AI report.
 */
export const SMART_SCOPE = [
  'launch',
  'openid',
  'fhirUser',
  // A refresh token for the session's lifetime (SMART App Launch 2.x "online_access"): the panel stays usable
  // past the access token's expiry while the clinician keeps the chart open.
  'online_access',
  'patient/Patient.rs',
  'patient/ImagingStudy.rs',
  'patient/Endpoint.rs',
  'patient/Observation.crus',
  'patient/DiagnosticReport.crus',
  'patient/DocumentReference.crus',
  'patient/Provenance.crs',
  'patient/Device.crs',
  // The signed-in clinician's own Practitioner (SMART `fhirUser`), so a signed report names who signed it.
  'user/Practitioner.r',
].join(' ');

/** Shown when `ready()` fails or the token can no longer be used. */
export const SESSION_LOST_MESSAGE = 'Session expired or launch state lost — relaunch ldh-cds from the EHR chart';
