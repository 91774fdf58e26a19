/**
 * The app's port to the EHR: the launched patient, their imaging studies, and the credentials the app
 * server needs. `clientToEhr` adapts a fhirclient `Client`; components depend only on `Ehr`.
 */
import type Client from 'fhirclient/lib/Client';
import type { Bundle, ImagingStudy, Patient } from 'fhir/r4';
import type { ApiSession } from './api';
import { bundleToImagingStudies } from './chart';
import { tokenResponseToLaunchStudy, type LaunchStudy } from './launch-study';

export interface Ehr {
  readPatient(signal?: AbortSignal): Promise<Patient>;
  searchImagingStudies(signal?: AbortSignal): Promise<ImagingStudy[]>;
  /** A fresh access token (refreshed if it can be) and the FHIR base it is for; throws SessionExpiredError. */
  getApiSession(): Promise<ApiSession>;
  /** What the EHR said about how to show the app (SMART token response). */
  launchContext(): LaunchContext;
}

/** SMART App Launch 2.x launch context that shapes the panel, from the token response. */
export interface LaunchContext {
  /** `smart_style_url`: the EHR's style document, to look like part of the chart. */
  smartStyleUrl?: string;
  /** `need_patient_banner`: false when the EHR already shows the patient around the app. Default true. */
  needPatientBanner: boolean;
  /** The signed-in user (`fhirUser` of the id_token, e.g. `Practitioner/123`), to say "you" on what they signed. */
  fhirUser?: string;
  /** The study the EHR launched the app at (a CDS card's `appContext`, or SMART `fhirContext`): opened first. */
  study?: LaunchStudy;
}

/** The launch context fields of a token response; anything missing or malformed takes the safe default. */
export function tokenResponseToLaunchContext(tokenResponse: unknown, fhirUser?: string | null): LaunchContext {
  const body =
    typeof tokenResponse === 'object' && tokenResponse !== null ? (tokenResponse as Record<string, unknown>) : {};
  const style = typeof body.smart_style_url === 'string' ? body.smart_style_url.trim() : '';
  const study = tokenResponseToLaunchStudy(body);
  return {
    ...(style ? { smartStyleUrl: style } : {}),
    // Only an explicit false hides the banner: showing the patient twice is better than not at all.
    needPatientBanner: body.need_patient_banner !== false,
    ...(fhirUser ? { fhirUser } : {}),
    ...(study ? { study } : {}),
  };
}

export class SessionExpiredError extends Error {
  constructor(message = 'The SMART access token has expired and cannot be refreshed.') {
    super(message);
    this.name = 'SessionExpiredError';
  }
}

/** `expiresAt` is fhirclient's epoch seconds; a token within `skewSeconds` of expiry counts as expired. */
export function isTokenExpired(expiresAt: number | undefined, nowMs: number, skewSeconds = 10): boolean {
  if (expiresAt === undefined) return false;
  return expiresAt - skewSeconds <= nowMs / 1000;
}

/** `ImagingStudy?patient=Patient/<id>` — the reference form; the medplum-based EHR ignores a bare id. */
export function imagingStudySearchUrl(patientId: string): string {
  return `ImagingStudy?patient=Patient/${encodeURIComponent(patientId)}&_count=100`;
}

export function clientToEhr(client: Client): Ehr {
  const patientId = (): string => {
    const id = client.patient.id;
    if (!id) throw new SessionExpiredError('The launch has no patient in context.');
    return id;
  };
  return {
    readPatient: (signal) => client.patient.read({ signal }),
    async searchImagingStudies(signal) {
      // pageLimit 0: follow every `next` link; the result is then an array of Bundles.
      const result = await client.request<Bundle | Bundle[]>(
        { url: imagingStudySearchUrl(patientId()), signal },
        { pageLimit: 0 },
      );
      return bundleToImagingStudies(result);
    },
    async getApiSession() {
      try {
        await client.refreshIfNeeded();
      } catch {
        throw new SessionExpiredError('The SMART access token could not be refreshed.');
      }
      const accessToken = client.state.tokenResponse?.access_token;
      if (!accessToken || isTokenExpired(client.state.expiresAt, Date.now())) throw new SessionExpiredError();
      return { accessToken, fhirServer: client.state.serverUrl };
    },
    launchContext: () => tokenResponseToLaunchContext(client.state.tokenResponse, client.getFhirUser()),
  };
}
