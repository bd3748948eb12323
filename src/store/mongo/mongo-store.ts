import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, WriteConcern } from 'mongodb';
import type { ClientSession, Collection, Db, TransactionOptions } from 'mongodb';
import { conflict, isFhirError } from '../../fhir/outcome';
import type { ResourceType } from '../../fhir/resource-types';
import type {
  HistoryEntry,
  HistoryQuery,
  HistoryResult,
  ResourceDocument,
  ResourceWrite,
  Store,
  StoreFindResult,
  StoreQuery,
  StoreReader,
  TransactionReader,
  TransactionPlan,
} from '../store';
import {
  HISTORY_COLLECTION,
  LEASES_COLLECTION,
  LOCKS_COLLECTION,
  findSort,
  historyFilter,
  historyId,
  historySort,
  liveFilter,
  toHistoryDocument,
  toHistoryEntry,
  toResourceDocument,
} from './documents';
import type { HistoryDocument, LeaseDocument, LockDocument } from './documents';
import {
  databaseNameFromUri,
  deploymentProblem,
  isDuplicateKeyError,
  isTransientTransactionError,
  isUnknownCommitResult,
  redactUri,
} from './errors';
import { ensureCollectionsAndIndexes } from './indexes';
import { acquireLease, releaseLease } from './lease';

export interface MongoStoreOptions {
  /** A MongoDB 6+ replica set (or mongos) URI; the path names the database (default `kairos`). */
  uri: string;
  /** Overrides the database named in the URI (tests use a throwaway one). */
  dbName?: string;
  /** How long a transaction may keep retrying write conflicts before it gives up with a 409 (default 10 s). */
  transactionTimeoutMs?: number;
  /** How long to look for a server at start before failing (default 10 s). */
  serverSelectionTimeoutMs?: number;
}

export interface MongoStore extends Store {
  readonly kind: 'mongodb';
  /** Takes or renews the lease `name` for `holder`; true when `holder` holds it now (see lease.ts). */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` still holds it. */
  releaseLease(name: string, holder: string): Promise<void>;
  /** Drops the whole database (tests only). */
  dropDatabase(): Promise<void>;
}

const DEFAULT_DATABASE = 'kairos';
const DEFAULT_TRANSACTION_TIMEOUT_MS = 10_000;
const DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 10_000;

/*
 * Snapshot reads see one consistent state for the whole transaction; majority writes survive a
 * failover, so an acknowledged booking is never rolled back. Reads go to the primary, as
 * transactions require.
 */
const TRANSACTION_OPTIONS: TransactionOptions = {
  readConcern: { level: 'snapshot' },
  writeConcern: new WriteConcern('majority'),
  readPreference: 'primary',
};

/** Thrown inside the transaction callback to leave withTransaction and retry from the outside. */
class LockRace extends Error {
  constructor() {
    super('two transactions created the same lock document at once');
    this.name = 'LockRace';
  }
}

function busy(): Error {
  return conflict('The database is busy with conflicting changes to the same resources; retry the request.');
}

function unknownCommitOutcome(): Error {
  return conflict(
    'The database did not confirm whether the change was committed (it may have been); ' +
      'read the affected resources before retrying.',
  );
}

/**
 * Opens the MongoDB store: connects, checks the deployment can run transactions, and creates
 * collections and indexes (idempotently). Rejects with a clear message instead of starting on a
 * server that cannot honour the storage contract.
 */
export async function createMongoStore(options: MongoStoreOptions): Promise<MongoStore> {
  const client = new MongoClient(options.uri, {
    // Optional FHIR elements are absent, never null: an undefined property must not become a BSON null.
    ignoreUndefined: true,
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? DEFAULT_SERVER_SELECTION_TIMEOUT_MS,
  });
  try {
    try {
      await client.connect();
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      throw new Error(`MongoDB store: cannot connect to ${redactUri(options.uri)}: ${reason}`, { cause: e });
    }
    const problem = deploymentProblem(await client.db('admin').command({ hello: 1 }));
    if (problem !== undefined) throw new Error(problem);
    const db = client.db(options.dbName ?? databaseNameFromUri(options.uri) ?? DEFAULT_DATABASE);
    await ensureCollectionsAndIndexes(db);
    return new MongoStoreImpl(client, db, options.transactionTimeoutMs ?? DEFAULT_TRANSACTION_TIMEOUT_MS);
  } catch (e) {
    await client.close().catch(() => undefined);
    throw e;
  }
}

class MongoStoreImpl implements MongoStore {
  readonly kind = 'mongodb' as const;
  private readonly versions: Collection<HistoryDocument>;
  private readonly locks: Collection<LockDocument>;
  private readonly leases: Collection<LeaseDocument>;

  constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    private readonly transactionTimeoutMs: number,
  ) {
    this.versions = db.collection<HistoryDocument>(HISTORY_COLLECTION);
    this.locks = db.collection<LockDocument>(LOCKS_COLLECTION);
    this.leases = db.collection<LeaseDocument>(LEASES_COLLECTION);
  }

  private resources(resourceType: ResourceType): Collection<ResourceDocument> {
    return this.db.collection<ResourceDocument>(resourceType);
  }

  read(resourceType: ResourceType, id: string): Promise<ResourceDocument | undefined> {
    return this.readIn(resourceType, id, undefined);
  }

  find(resourceType: ResourceType, query: StoreQuery): Promise<StoreFindResult> {
    return this.findIn(resourceType, query, undefined);
  }

  /** `session` undefined = outside any transaction. Every call inside a transaction MUST pass it. */
  private async readIn(
    resourceType: ResourceType,
    id: string,
    session: ClientSession | undefined,
  ): Promise<ResourceDocument | undefined> {
    const document = await this.resources(resourceType).findOne({ _id: id }, { session });
    return document ?? undefined;
  }

  private async findIn(
    resourceType: ResourceType,
    query: StoreQuery,
    session: ClientSession | undefined,
  ): Promise<StoreFindResult> {
    const collection = this.resources(resourceType);
    const filter = liveFilter(query.filter);
    // MongoDB reads `limit: 0` as "no limit"; the contract reads it as "none" (a count-only search).
    const documents =
      query.limit === 0
        ? []
        : await collection
            .find(filter, { session, sort: findSort(query.sort), skip: query.skip ?? 0, limit: query.limit ?? 0 })
            .toArray();
    if (query.count !== true) return { documents };
    return { documents, total: await collection.countDocuments(filter, { session }) };
  }

  async vread(resourceType: ResourceType, id: string, versionId: number): Promise<HistoryEntry | undefined> {
    const document = await this.versions.findOne({ _id: historyId(resourceType, id, versionId) });
    return document === null ? undefined : toHistoryEntry(document);
  }

  async history(resourceType: ResourceType, id: string | undefined, query: HistoryQuery): Promise<HistoryResult> {
    const filter = historyFilter(resourceType, id, query);
    const documents =
      query.limit <= 0
        ? []
        : await this.versions.find(filter, { sort: historySort(id), skip: query.skip, limit: query.limit }).toArray();
    const total = await this.versions.countDocuments(filter);
    return { entries: documents.map(toHistoryEntry), total };
  }

  async commit(writes: ResourceWrite[]): Promise<void> {
    if (writes.length === 0) return;
    await this.transaction([], () => Promise.resolve({ writes, result: undefined }));
  }

  /**
   * One MongoDB transaction per attempt (store.ts explains the lock documents). The driver's
   * withTransaction re-runs the whole callback on TransientTransactionError (write conflicts,
   * failovers) and re-sends the commit on UnknownTransactionCommitResult. The deadline check at the
   * top of the callback bounds the re-runs: running out of time is a 409 the client may retry,
   * not a 500. Commit re-sends stay under the driver's own 120 s limit (they only happen while a
   * primary is unreachable); if they fail, the outcome is reported as unknown (409).
   */
  async transaction<T>(
    lockKeys: readonly string[],
    fn: (reader: TransactionReader) => Promise<TransactionPlan<T>>,
  ): Promise<T> {
    const deadline = Date.now() + this.transactionTimeoutMs;
    // Sorted: transactions that share several keys touch them in the same order.
    const keys = [...new Set(lockKeys)].sort();
    const session = this.client.startSession();
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await session.withTransaction(async (txSession) => {
            if (Date.now() >= deadline) throw busy();
            await this.bumpLocks(keys, txSession);
            const plan = await fn(this.transactionReader(txSession, new Set(keys)));
            await this.applyWrites(plan.writes, txSession);
            return plan.result;
          }, TRANSACTION_OPTIONS);
        } catch (e) {
          // A FhirError from fn or from a version check: withTransaction has already aborted.
          if (isFhirError(e)) throw e;
          const retryable = e instanceof LockRace || isTransientTransactionError(e);
          if (!retryable) throw isUnknownCommitResult(e) ? unknownCommitOutcome() : e;
          if (Date.now() >= deadline) throw busy();
          // Jittered exponential backoff, as the driver does between its own attempts.
          await sleep(Math.random() * Math.min(5 * 1.5 ** attempt, 500));
        }
      }
    } finally {
      await session.endSession();
    }
  }

  /**
   * A reader bound to the transaction's session. MongoDB does not support concurrent operations in
   * one transaction, so calls are queued even when fn issues them in parallel (e.g. Promise.all).
   */
  private transactionReader(session: ClientSession, locked: Set<string>): TransactionReader {
    let queue: Promise<unknown> = Promise.resolve();
    const serialised = <R>(operation: () => Promise<R>): Promise<R> => {
      const next = queue.then(operation);
      queue = next.catch(() => undefined);
      return next;
    };
    return {
      read: (resourceType, id) => serialised(() => this.readIn(resourceType, id, session)),
      find: (resourceType, query) => serialised(() => this.findIn(resourceType, query, session)),
      lock: (keys) => {
        const fresh = [...new Set(keys)].filter((k) => !locked.has(k)).sort();
        for (const k of fresh) locked.add(k);
        return serialised(() => this.bumpLocks(fresh, session));
      },
    };
  }

  /**
   * Writes each lock document before anything else in the transaction, so two transactions that
   * share a key write-conflict on it (one is retried) whatever they go on to read.
   */
  private async bumpLocks(keys: readonly string[], session: ClientSession): Promise<void> {
    for (const key of keys) {
      try {
        await this.locks.updateOne({ _id: key }, { $inc: { n: 1 } }, { upsert: true, session });
      } catch (e) {
        // Two first-ever upserts of one key can surface as a duplicate key rather than a write
        // conflict; both mean "someone else holds this key now".
        if (isDuplicateKeyError(e)) throw new LockRace();
        throw e;
      }
    }
  }

  /** Applies the plan in order; a version mismatch throws a 409, which aborts the whole transaction. */
  private async applyWrites(writes: readonly ResourceWrite[], session: ClientSession): Promise<void> {
    for (const write of writes) {
      const collection = this.resources(write.resourceType);
      const document = toResourceDocument(write);
      const reference = `${write.resourceType}/${write.id}`;
      if (write.previousVersionId === 0) {
        try {
          await collection.insertOne(document, { session });
        } catch (e) {
          if (isDuplicateKeyError(e)) throw conflict(`${reference} already exists.`);
          throw e;
        }
      } else {
        const result = await collection.replaceOne(
          { _id: write.id, versionId: write.previousVersionId },
          document,
          { session },
        );
        if (result.matchedCount === 0) {
          throw conflict(
            `${reference} was changed concurrently: version ${write.previousVersionId} is no longer the current one.`,
          );
        }
      }
      try {
        await this.versions.insertOne(toHistoryDocument(write), { session });
      } catch (e) {
        if (isDuplicateKeyError(e)) throw conflict(`Version ${write.versionId} of ${reference} already exists.`);
        throw e;
      }
    }
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return acquireLease(this.leases, name, holder, ttlMs);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return releaseLease(this.leases, name, holder);
  }

  async dropDatabase(): Promise<void> {
    await this.db.dropDatabase();
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
