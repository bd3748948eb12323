import type { Appointment } from 'fhir/r4';
import type { Logger } from 'pino';
import { pendingAppointments } from '../store/scheduling-queries';
import type { Store } from '../store/store';
import { parseHoldExpires } from './availability';
import type { BookingEngine } from './booking-engine';
import { generateAllSchedules } from './generator';

/** Releases every hold whose `hold-expires` has passed (SPEC §4.6); returns how many. */
export async function expireHolds(store: Store, engine: BookingEngine, now: number): Promise<number> {
  const { documents } = await store.find('Appointment', pendingAppointments(10_000));
  let released = 0;
  for (const doc of documents) {
    const expires = doc.resource === null ? undefined : parseHoldExpires(doc.resource as Appointment);
    if (expires === undefined || expires > now) continue;
    if (await engine.expireHold(doc._id)) released++;
  }
  return released;
}

export interface JobOptions {
  store: Store;
  engine: BookingEngine;
  now: () => number;
  logger: Logger;
  slotHorizonDays: number;
  generatorIntervalSeconds: number;
  /** Delay of the first generator run after start (then every interval); GENERATOR_FIRST_RUN_SECONDS. */
  generatorFirstRunSeconds: number;
  /** How often expired holds are looked for. */
  holdSweepMs?: number;
  /** Called with the number of holds each sweep released (metrics). */
  onHoldsExpired?: (count: number) => void;
}

/**
 * The server's background work: the hold-expiry sweep (every second by default, so a hold is
 * released within seconds of expiring) and the periodic slot generator. Runs never overlap
 * themselves; `stop()` waits for a run in progress.
 */
export function startBackgroundJobs(options: JobOptions): { stop: () => Promise<void> } {
  let stopped = false;
  const running = new Set<Promise<unknown>>();
  const loop = (name: string, intervalMs: number, body: () => Promise<void>): NodeJS.Timeout => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || stopped) return;
      busy = true;
      const run = body()
        .catch((e: unknown) => options.logger.error({ err: e, job: name }, 'background job failed'))
        .finally(() => {
          busy = false;
          running.delete(run);
        });
      running.add(run);
    }, intervalMs);
    timer.unref();
    return timer;
  };
  const once = (name: string, body: () => Promise<void>): void => {
    const run = body()
      .catch((e: unknown) => options.logger.error({ err: e, job: name }, 'background job failed'))
      .finally(() => running.delete(run));
    running.add(run);
  };
  const generate = async (): Promise<void> => {
    const result = await generateAllSchedules(options.store, options.now, { horizonDays: options.slotHorizonDays, agent: 'kairos' });
    options.logger.info(result, 'slot generator run');
  };
  // Roll every schedule forward shortly after start (not during it: a run over a large store would
  // hold the event loop while the server should become ready), then periodically. The benchmark
  // sets a long delay so a run does not land in the middle of what it measures.
  const firstRunMs = Math.min(options.generatorFirstRunSeconds, options.generatorIntervalSeconds) * 1000;
  const first = setTimeout(() => once('slot-generator', generate), firstRunMs);
  first.unref();
  const timers = [
    loop('hold-expiry', options.holdSweepMs ?? 1000, async () => {
      const count = await expireHolds(options.store, options.engine, options.now());
      if (count > 0) {
        options.logger.info({ count }, 'expired holds released');
        options.onHoldsExpired?.(count);
      }
    }),
    loop('slot-generator', options.generatorIntervalSeconds * 1000, generate),
  ];
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(first);
      for (const t of timers) clearInterval(t);
      await Promise.all([...running]);
    },
  };
}
