/**
 * The mock EHR's development tools — the fault injection switches (`/faults`) and the demo sign-in of the
 * standalone launch (`clinician` / `synthetic`) — work only when the EHR is started with them (`MOCK_EHR_DEV_TOOLS=true`;
 * `npm start` and the tests set it). Off, each answers 403 with a sentence saying so; on, the chart shows a banner.
 * Neither belongs on an EHR anyone else can reach: the switches have no authentication, the password is on the page.
 */
import type { RequestHandler } from 'express';
import { errorPage, forbidden } from './errors';

export const DEV_TOOLS_KEY = 'MOCK_EHR_DEV_TOOLS';

export function devToolsOffSentence(tool: string): string {
  return `${tool} is a development tool, and development tools are off on this EHR: start the mock EHR with ${DEV_TOOLS_KEY}=true (npm start and the tests do) to use it.`;
}

/** Lets the request through when the development tools are on; else 403 (a page, or an OperationOutcome for JSON). */
export function requireDevTools(enabled: boolean, tool: string): RequestHandler {
  return (req, _res, next) => {
    if (enabled) {
      next();
      return;
    }
    const sentence = devToolsOffSentence(tool);
    if (req.accepts(['html', 'json']) === 'json') throw forbidden(sentence);
    throw errorPage(403, 'Development tools are off', sentence);
  };
}
