/**
 * Routers are written as one readable table of routes (the SMART launcher v2 style): method, path, handler, and a
 * line saying which spec clause the route implements. Express 5 forwards rejected promises to the error handler, so
 * handlers simply throw `HttpError`.
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'all';

export interface Route {
  method: RouteMethod;
  /** Express 5 path syntax (`/studies/:study`, `/*rest`). */
  path: string;
  /** Middleware that runs before the handler (parsers, auth). */
  before?: RequestHandler[];
  handler: (req: Request, res: Response, next: NextFunction) => void | Promise<void>;
  /** The spec clause or purpose, for readers of the table. */
  spec: string;
}

export function buildRouter(routes: readonly Route[], shared: RequestHandler[] = []): Router {
  const router = Router();
  for (const middleware of shared) router.use(middleware);
  for (const route of routes) {
    router[route.method](route.path, ...(route.before ?? []), route.handler);
  }
  return router;
}
