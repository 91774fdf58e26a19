/**
 * With MOCK_EHR_PERSIST=true, every successful write (any method but GET and HEAD, answered below 400) schedules a
 * save of the FHIR resources; the save itself is debounced in Persistence, so a burst of writes is one file write.
 */
import type { RequestHandler } from 'express';
import type { Persistence } from '../persistence';

export function saveAfterWrites(persistence: Persistence): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.on('finish', () => {
        if (res.statusCode < 400) persistence.scheduleSave();
      });
    }
    next();
  };
}
