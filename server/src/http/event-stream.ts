/**
 * A Server-Sent Events stream (WHATWG HTML §9.2) on an Express response, for a job's progress (issue 23):
 *
 * - `text/event-stream` in UTF-8 (§9.2.5), `Cache-Control: no-cache` and `X-Accel-Buffering: no`, so that neither a
 *   cache nor a buffering reverse proxy (nginx) holds the events back, and the headers go out at once;
 * - a `retry:` field first (§9.2.6: how long a client waits before it reconnects), then events with an `id:`, an
 *   `event:` name and their data, each `data:` line one line of the text (§9.2.6: a line break ends a field);
 * - a comment line (`: heartbeat`, §9.2.6: a line starting with a colon is ignored) every `heartbeatMs`, so that
 *   proxies and clients that time out an idle connection keep it while a long stage runs;
 * - at most one event per `minIntervalMs` (≤ 10 a second by default): an event that waits its turn is replaced by a
 *   newer one of the same `coalesce` key (the next count of the same stage), never by one of another key, so no stage
 *   is skipped and the last word is always sent.
 *
 * The browser client reads it with fetch streaming (it must send the Authorization header, which EventSource cannot),
 * so the token never goes into a URL.
 */
import type { Request, Response } from 'express';

export interface StreamEvent {
  id: string;
  event: string;
  data: string;
  /** Events of the same key replace each other while they wait to be sent; undefined: never replaced. */
  coalesce?: string;
}

export interface EventStreamOptions {
  /** The reconnection time the client is told (`retry:`), ms. */
  retryMs?: number;
  heartbeatMs?: number;
  minIntervalMs?: number;
}

export interface EventStream {
  send(event: StreamEvent): void;
  /** Sends what waits, then ends the response. */
  end(): void;
  /** The client went away or the stream ended. */
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

/** One event in the stream's format: each line of the data its own `data:` field. */
export function formatEvent({ id, event, data }: Pick<StreamEvent, 'id' | 'event' | 'data'>): string {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`);
  return `id: ${id}\nevent: ${event}\n${lines.join('')}\n`;
}

export function openEventStream(req: Request, res: Response, options: EventStreamOptions = {}): EventStream {
  const { retryMs = 3000, heartbeatMs = 15_000, minIntervalMs = 100 } = options;
  const waiting: StreamEvent[] = [];
  const closeListeners: (() => void)[] = [];
  let lastSentAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let ending = false;
  let closed = false;

  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);
  res.write(`retry: ${retryMs}\n\n`);

  const heartbeat = setInterval(() => {
    res.write(': heartbeat\n\n');
  }, heartbeatMs);

  function close(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    clearTimeout(timer);
    for (const listener of closeListeners.splice(0)) listener();
  }
  res.on('close', close);

  function drain(): void {
    timer = undefined;
    if (closed) return;
    const next = waiting.shift();
    if (next) {
      res.write(formatEvent(next));
      lastSentAt = performance.now();
    }
    if (waiting.length > 0) {
      timer = setTimeout(drain, minIntervalMs);
    } else if (ending) {
      res.end();
      close();
    }
  }

  function schedule(): void {
    if (timer || closed) return;
    const wait = lastSentAt + minIntervalMs - performance.now();
    if (wait <= 0) drain();
    else timer = setTimeout(drain, wait);
  }

  return {
    send(event) {
      if (closed || ending) return;
      const last = waiting.at(-1);
      if (last && event.coalesce !== undefined && last.coalesce === event.coalesce) waiting[waiting.length - 1] = event;
      else waiting.push(event);
      schedule();
    },
    end() {
      if (closed) return;
      ending = true;
      if (waiting.length === 0 && !timer) {
        res.end();
        close();
      } else {
        schedule();
      }
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      if (closed) listener();
      else closeListeners.push(listener);
    },
  };
}
