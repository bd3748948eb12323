import type { Collection, Document } from 'mongodb';
import type { LeaseDocument } from './documents';
import { isDuplicateKeyError } from './errors';

/**
 * Leases: "one process at a time" for periodic work when several Kairos processes share one
 * MongoDB (SPEC 2: the slot generator runs in one of them at a time).
 *
 * A lease is one document `{ _id: name, holder, expiresAt }`. `acquireLease` takes it when it is
 * free or expired, or renews it when `holder` already has it, and says whether `holder` holds it
 * now. Usage: each process picks a unique holder id (e.g. `${hostname}:${pid}:${random}`), calls
 * `acquireLease(name, holder, ttlMs)` at the start of every periodic run, does the work only when
 * it returns true, and keeps each run (or the renewal period) well under `ttlMs`; a process that
 * dies simply stops renewing and another takes over once the lease expires.
 *
 * Expiry is judged by the server's clock (`$$NOW`), never the callers', so clock skew between
 * Kairos hosts cannot let two of them hold a lease at once.
 */
export async function acquireLease(
  leases: Collection<LeaseDocument>,
  name: string,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  try {
    const lease = await leases.findOneAndUpdate({ _id: name }, leaseUpdate(holder, ttlMs), {
      upsert: true,
      returnDocument: 'after',
    });
    return lease?.holder === holder;
  } catch (e) {
    // Two processes creating the lease at once: the loser's insert hits the winner's _id.
    if (isDuplicateKeyError(e)) return false;
    throw e;
  }
}

/**
 * The update pipeline behind acquireLease. The "free, expired or ours" test lives in the pipeline,
 * not in the filter, because MongoDB rejects `$expr` (needed to read `$$NOW`) in an upsert's
 * filter. A lease held by someone else comes out unchanged. `$literal` keeps a holder string that
 * starts with `$` from being read as a field path.
 */
export function leaseUpdate(holder: string, ttlMs: number): Document[] {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lease ttlMs must be a positive number, got ${ttlMs}`);
  const mayTake = {
    $or: [
      { $eq: ['$holder', { $literal: holder }] },
      // A freshly upserted lease has no expiresAt yet: treat it as long expired.
      { $lte: [{ $ifNull: ['$expiresAt', new Date(0)] }, '$$NOW'] },
    ],
  };
  return [
    {
      $set: {
        holder: { $cond: [mayTake, { $literal: holder }, '$holder'] },
        expiresAt: { $cond: [mayTake, { $add: ['$$NOW', ttlMs] }, '$expiresAt'] },
      },
    },
  ];
}

/** Gives the lease up early (graceful shutdown), if `holder` still holds it. */
export async function releaseLease(leases: Collection<LeaseDocument>, name: string, holder: string): Promise<void> {
  await leases.deleteOne({ _id: name, holder });
}
