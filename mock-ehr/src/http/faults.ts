/**
 * Fault injection for tests and demos, as the SMART launcher offers: switches that make the EHR misbehave in the
 * ways a real one does. Flip them in tests through `MockEhr.faults`, by hand at `/faults`, or with
 * `POST /faults` (JSON or form: expiredToken, fhirUnavailable, dicomWebDelayMs, failTransactions,
 * loseTransactionAnswers).
 */
import type { RequestHandler } from 'express';
import { HttpError, buildOutcome, unauthorized } from './errors';

export interface FaultSwitches {
  /** Every access token is treated as expired by FHIR and DICOMweb (401 invalid_token): the app must refresh. */
  expiredToken: boolean;
  /** FHIR answers 503 with an OperationOutcome and Retry-After (discovery documents stay up). */
  fhirUnavailable: boolean;
  /** DICOMweb answers this many milliseconds late (0 = off). */
  dicomWebDelayMs: number;
  /** The next this-many FHIR transactions answer 503 before anything is applied (a server that is briefly down). */
  failTransactions: number;
  /**
   * The next this-many FHIR transactions are applied, then answered 503 (a gateway that timed out while the server
   * committed): the client cannot know its write landed, and must not write it twice.
   */
  loseTransactionAnswers: number;
}

export const NO_FAULTS: Readonly<FaultSwitches> = {
  expiredToken: false,
  fhirUnavailable: false,
  dicomWebDelayMs: 0,
  failTransactions: 0,
  loseTransactionAnswers: 0,
};

/** The 503 a FHIR server (or its gateway) answers while unavailable, with Retry-After (RFC 9110 §10.2.3). */
export function fhirUnavailable(diagnostics: string): HttpError {
  return new HttpError(
    503,
    { kind: 'outcome', outcome: buildOutcome('transient', diagnostics) },
    { 'Retry-After': '1' },
  );
}

/** Counts one use of a counting fault; true when it fired. */
export function takeFault(faults: FaultSwitches, key: 'failTransactions' | 'loseTransactionAnswers'): boolean {
  if (faults[key] <= 0) return false;
  faults[key] -= 1;
  return true;
}

export function createFaults(): FaultSwitches {
  return { ...NO_FAULTS };
}

/** Before the bearer check of a resource server. */
export function expiredTokenFault(faults: FaultSwitches): RequestHandler {
  return (_req, _res, next) => {
    if (faults.expiredToken) throw unauthorized('access token expired', 'invalid_token');
    next();
  };
}

export function fhirUnavailableFault(faults: FaultSwitches): RequestHandler {
  return (_req, _res, next) => {
    if (faults.fhirUnavailable) throw fhirUnavailable('FHIR server temporarily unavailable (fault injection)');
    next();
  };
}

export function slowDicomWebFault(faults: FaultSwitches): RequestHandler {
  return (_req, _res, next) => {
    if (faults.dicomWebDelayMs <= 0) {
      next();
      return;
    }
    setTimeout(next, faults.dicomWebDelayMs);
  };
}

/** Applies a partial update from a form or JSON body; unknown keys and bad values are an error naming them. */
export function updateFaults(faults: FaultSwitches, body: Record<string, unknown>): void {
  const flag = (value: unknown): boolean => value === true || value === 'true' || value === 'on' || value === '1';
  for (const [key, value] of Object.entries(body)) {
    if (key === 'expiredToken') faults.expiredToken = flag(value);
    else if (key === 'fhirUnavailable') faults.fhirUnavailable = flag(value);
    else if (key === 'dicomWebDelayMs') {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 0 || ms > 120_000) {
        throw new HttpError(400, {
          kind: 'outcome',
          outcome: buildOutcome('invalid', 'dicomWebDelayMs must be an integer from 0 to 120000'),
        });
      }
      faults.dicomWebDelayMs = ms;
    } else if (key === 'failTransactions' || key === 'loseTransactionAnswers') {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 0 || count > 100) {
        throw new HttpError(400, {
          kind: 'outcome',
          outcome: buildOutcome('invalid', `${key} must be an integer from 0 to 100`),
        });
      }
      faults[key] = count;
    } else if (key !== 'form') {
      throw new HttpError(400, { kind: 'outcome', outcome: buildOutcome('invalid', `Unknown fault switch "${key}"`) });
    }
  }
}
