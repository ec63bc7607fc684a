import http from 'node:http';
import type { Express } from 'express';

type Constructor<T> = new (...args: never[]) => T;

/**
 * A subclass of `Base` whose prototype stands in for `prototype`: the same own properties and
 * the same prototype above it, so its instances behave as objects given `prototype` would. Its
 * `constructor` is not its own (as it is not `prototype`'s), so `req.constructor` is unchanged.
 */
function standIn<T extends object>(Base: Constructor<T>, prototype: object): Constructor<T> {
  const Born = class extends (Base as unknown as new (...args: unknown[]) => object) {};
  Object.setPrototypeOf(Born.prototype, Object.getPrototypeOf(prototype));
  for (const key of Reflect.ownKeys(prototype)) {
    Object.defineProperty(Born.prototype, key, Object.getOwnPropertyDescriptor(prototype, key) as PropertyDescriptor);
  }
  if (!Object.hasOwn(prototype, 'constructor')) delete (Born.prototype as { constructor?: unknown }).constructor;
  return Born as unknown as Constructor<T>;
}

/**
 * The HTTP server for an Express app, as `app.listen()` makes it, except that requests and
 * responses are created with the prototypes Express gives them, instead of being given them
 * afterwards.
 *
 * Express sets the prototype of every request and response with `Object.setPrototypeOf()`
 * (`app.request`, `app.response`). On Node.js 20 that change costs far more than the call
 * suggests: in the example app it made about a third of what each request allocates survive
 * into V8's old generation, and more than half of the CPU time of a request went to it and to
 * property lookups that miss V8's inline caches (measured with `--trace-gc-nvp` and `perf`;
 * see bench/README.md). Here each request and response is born an instance of a subclass of
 * `http.IncomingMessage` / `http.ServerResponse` whose prototype takes the place of
 * `app.request` / `app.response` (same methods, same `req.app`), so Express's call finds the
 * prototype already set and V8 does nothing.
 *
 * One server per app: a second call replaces `app.request` / `app.response` again, and the first
 * server's requests then take Express's usual (slower, equally correct) path. Sub-apps mounted
 * with `app.use(subApp)` work as usual, at the usual cost while a request is inside them; but a
 * sub-app inherits from the `app.request` / `app.response` of when it was mounted, so add your
 * own request and response methods before calling this. `options` are `http.createServer()`'s,
 * except `IncomingMessage` and `ServerResponse`, which this function sets (a TypeError if given).
 */
export function createHttpServer(app: Express, options: http.ServerOptions = {}): http.Server {
  if (options.IncomingMessage !== undefined || options.ServerResponse !== undefined) {
    throw new TypeError('createHttpServer: options.IncomingMessage and options.ServerResponse are set by createHttpServer itself');
  }
  const Request = standIn(http.IncomingMessage, app.request);
  const Response = standIn(http.ServerResponse, app.response);
  app.request = Request.prototype as Express['request'];
  app.response = Response.prototype as Express['response'];
  return http.createServer({
    ...options,
    IncomingMessage: Request as unknown as typeof http.IncomingMessage,
    ServerResponse: Response as unknown as typeof http.ServerResponse,
  }, app);
}
