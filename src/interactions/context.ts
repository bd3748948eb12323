import type { Logger } from 'pino';
import type { Config } from '../config';
import type { BookingEngine } from '../scheduling/booking-engine';
import type { Store } from '../store/store';

/** What interactions and operations need from the running server; built by createApp's caller. */
export interface ServerContext {
  readonly store: Store;
  readonly config: Config;
  /** The clock, injectable so tests can pin "now" (epoch ms). */
  readonly now: () => number;
  readonly logger: Logger;
  /** Every change to appointment time goes through it (SPEC §4.5). */
  readonly engine: BookingEngine;
}
