import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:http';
import type { Express } from 'express';

/**
 * The HTTP server for an express app, making each request and response with the app's prototypes
 * (`app.request`, `app.response`) from the start.
 *
 * Why: express's `app.handle` gives every incoming request and response the app's prototype with
 * `Object.setPrototypeOf`. Measured on this machine (Node 20, `--trace-gc-nvp`) with a bare
 * express endpoint: a quarter of everything a request allocated survived each young-generation
 * GC (0.1% with plain node:http) and was promoted, then collected by mark-compacts, and the
 * endpoint needed 132 µs of CPU per request instead of 35. Which V8 mechanism keeps the objects
 * was not pinned down; what was measured is that objects made with the app's prototypes from the
 * start are not kept (0.1%), and then express's `setPrototypeOf` changes nothing (V8 returns
 * early when the prototype is the same one). express behaves the same: the prototypes are the
 * very ones it would have set. Known upstream: nodejs/node#37457 (express throughput halved by
 * this call since Node 12.18.1), expressjs/express#5998 (the same remedy: node:http's
 * `IncomingMessage`/`ServerResponse` options).
 */
export function createHttpServer(app: Express): Server {
  const Request = withPrototype<typeof IncomingMessage>(IncomingMessage, app.request);
  const Response = withPrototype<typeof ServerResponse>(ServerResponse, app.response);
  if (Request === undefined || Response === undefined) return createServer(app);
  return createServer({ IncomingMessage: Request, ServerResponse: Response }, app);
}

/**
 * A function constructor that runs `base` on the object `new` made from `prototype`: node:http's
 * `new server[kIncomingMessage](socket)` then gets an IncomingMessage whose prototype is the app's
 * request. (`Reflect.construct(base, args, target)` makes the same object, but measured, V8 then
 * keeps requests alive as `setPrototypeOf` did.) node:http's IncomingMessage and ServerResponse
 * are functions that may be applied to a new object; were one a class (a later Node), it could
 * not be, and the server is made as usual.
 */
export function withPrototype<C extends new (...args: never[]) => object>(base: C, prototype: object): C | undefined {
  if (/^class\b/.test(Function.prototype.toString.call(base))) return undefined;
  function Constructed(this: object, ...args: ConstructorParameters<C>): void {
    Reflect.apply(base, this, args);
  }
  Object.defineProperty(Constructed, 'prototype', { value: prototype });
  // The cast names what node:http calls: a constructor taking base's arguments.
  return Constructed as unknown as C;
}
