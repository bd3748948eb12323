import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { ResourceType } from '../fhir/resource-types';
import type {
  HistoryQuery,
  HistoryResult,
  HistoryEntry,
  ResourceDocument,
  ResourceWrite,
  Store,
  StoreFindResult,
  StoreQuery,
  TransactionReader,
  TransactionPlan,
} from '../store/store';

/**
 * SPEC §7 metrics, in a registry of their own per app (never prom-client's global one), so a test
 * process can build many apps and each `/metrics` shows only its own numbers.
 */
export interface Metrics {
  readonly registry: Registry;
  /** `kairos_http_requests_total{interaction,status}` */
  readonly requests: Counter<'interaction' | 'status'>;
  /** `kairos_http_request_duration_seconds{interaction,status}` */
  readonly requestDuration: Histogram<'interaction' | 'status'>;
  /** `kairos_bookings_total{operation}`: successful $hold, $book, $reschedule. */
  readonly bookings: Counter<'operation'>;
  /** `kairos_booking_conflicts_total{interaction}`: 409 answers (the time or a version was taken). */
  readonly conflicts: Counter<'interaction'>;
  /** `kairos_holds_expired_total`: holds released by the expiry sweep. */
  readonly holdsExpired: Counter;
  /** `kairos_store_operation_duration_seconds{operation,outcome}` */
  readonly storeDuration: Histogram<'operation' | 'outcome'>;
}

export interface MetricsOptions {
  /** Also export Node process metrics (CPU, memory, event loop); main.ts turns this on. */
  processMetrics?: boolean;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'kairos_' });
  return {
    registry,
    requests: new Counter({
      name: 'kairos_http_requests_total',
      help: 'HTTP requests answered, by FHIR interaction and status code',
      labelNames: ['interaction', 'status'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'kairos_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by FHIR interaction and status code',
      labelNames: ['interaction', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    bookings: new Counter({
      name: 'kairos_bookings_total',
      help: 'Successful booking operations ($hold, $book, $reschedule)',
      labelNames: ['operation'],
      registers: [registry],
    }),
    conflicts: new Counter({
      name: 'kairos_booking_conflicts_total',
      help: 'Requests refused with 409 Conflict (time already taken, concurrent change)',
      labelNames: ['interaction'],
      registers: [registry],
    }),
    holdsExpired: new Counter({
      name: 'kairos_holds_expired_total',
      help: 'Holds released because their hold-expires passed',
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: 'kairos_store_operation_duration_seconds',
      help: 'Time spent in the store, by store operation and outcome',
      labelNames: ['operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}

/** The interactions whose success counts as a booking. */
const BOOKING_INTERACTIONS: ReadonlySet<string> = new Set(['$hold', '$book', '$reschedule']);

interface RequestSeries {
  requests: { inc(): void };
  duration: { observe(value: number): void };
}

/**
 * Labelled children are looked up once per label values and kept: prom-client hashes the label
 * object on every call otherwise (measured: ~3% of a read's CPU).
 */
function cached<V>(children: Map<string, V>, key: string, make: () => V): V {
  let child = children.get(key);
  if (child === undefined) {
    child = make();
    children.set(key, child);
  }
  return child;
}

/** The request metrics' children, per registry. */
const requestSeries = new WeakMap<Metrics, Map<string, RequestSeries>>();

/** Records one answered request (called when the response has been sent). */
export function recordRequest(metrics: Metrics, interaction: string, status: number, seconds: number): void {
  let children = requestSeries.get(metrics);
  if (children === undefined) {
    children = new Map();
    requestSeries.set(metrics, children);
  }
  const series = cached(children, `${interaction} ${status}`, () => {
    const labels = { interaction, status: String(status) };
    return { requests: metrics.requests.labels(labels), duration: metrics.requestDuration.labels(labels) };
  });
  series.requests.inc();
  series.duration.observe(seconds);
  if (status === 409) metrics.conflicts.inc({ interaction });
  if (status >= 200 && status < 300 && BOOKING_INTERACTIONS.has(interaction)) metrics.bookings.inc({ operation: interaction });
}

/**
 * The same store, timing every call into `storeDuration`. A transaction is timed as a whole
 * (reads inside it go through the store's own reader).
 */
export function instrumentStore(store: Store, metrics: Metrics): Store {
  const series = new Map<string, { observe(value: number): void }>();
  const observe = (operation: string, outcome: 'ok' | 'error', started: number): void => {
    const child = cached(series, `${operation} ${outcome}`, () => metrics.storeDuration.labels({ operation, outcome }));
    child.observe((performance.now() - started) / 1000);
  };
  const timed = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await call();
      observe(operation, 'ok', started);
      return result;
    } catch (e) {
      observe(operation, 'error', started);
      throw e;
    }
  };
  return {
    kind: store.kind,
    read: (resourceType: ResourceType, id: string): Promise<ResourceDocument | undefined> => timed('read', () => store.read(resourceType, id)),
    find: (resourceType: ResourceType, query: StoreQuery): Promise<StoreFindResult> => timed('find', () => store.find(resourceType, query)),
    vread: (resourceType: ResourceType, id: string, versionId: number): Promise<HistoryEntry | undefined> =>
      timed('vread', () => store.vread(resourceType, id, versionId)),
    history: (resourceType: ResourceType, id: string | undefined, query: HistoryQuery): Promise<HistoryResult> =>
      timed('history', () => store.history(resourceType, id, query)),
    commit: (writes: ResourceWrite[]): Promise<void> => timed('commit', () => store.commit(writes)),
    transaction: <T>(lockKeys: readonly string[], fn: (reader: TransactionReader) => Promise<TransactionPlan<T>>): Promise<T> =>
      timed('transaction', () => store.transaction(lockKeys, fn)),
    ping: (): Promise<void> => timed('ping', () => store.ping()),
    close: (): Promise<void> => store.close(),
  };
}
