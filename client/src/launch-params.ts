/** What an EHR launch URL must carry (SMART App Launch 2.x, EHR launch: `iss` and `launch`). */
export type LaunchParams = { ok: true; iss: string; launch: string } | { ok: false; message: string };

export function searchToLaunchParams(search: string): LaunchParams {
  const params = new URLSearchParams(search);
  const iss = params.get('iss')?.trim() ?? '';
  const launch = params.get('launch')?.trim() ?? '';
  const missing = [iss ? null : 'iss', launch ? null : 'launch'].filter((name): name is string => name !== null);
  if (missing.length > 0) {
    return {
      ok: false,
      message:
        `This page must be opened by the EHR: the launch URL has no ${missing.join(' or ')} parameter. ` +
        'Open a patient chart in the EHR and launch ldh-cds from there.',
    };
  }
  try {
    const url = new URL(iss);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    return { ok: false, message: `The launch URL's iss parameter is not a FHIR server URL: ${iss}` };
  }
  return { ok: true, iss, launch };
}
