import { MongoError } from 'mongodb';
import type { Document } from 'mongodb';

// Server error codes (src/mongo/base/error_codes.yml in the server repository).
const DUPLICATE_KEY = 11000;
/** MongoDB 6.0 speaks wire version 17 (the first with everything Kairos relies on). */
const MIN_WIRE_VERSION = 17;

export function isDuplicateKeyError(e: unknown): boolean {
  return e instanceof MongoError && e.code === DUPLICATE_KEY;
}

/** A conflict with another transaction or a failover: running the transaction again may succeed. */
export function isTransientTransactionError(e: unknown): boolean {
  return e instanceof MongoError && e.hasErrorLabel('TransientTransactionError');
}

/** The commit may or may not have been applied (e.g. the primary stepped down during commit). */
export function isUnknownCommitResult(e: unknown): boolean {
  return e instanceof MongoError && e.hasErrorLabel('UnknownTransactionCommitResult');
}

/**
 * Why the server Kairos connected to cannot run the MongoDB store, from its `hello` reply; undefined
 * when it can. Multi-document transactions need a replica set member or a mongos (sharded cluster).
 */
export function deploymentProblem(hello: Document): string | undefined {
  const isReplicaSetMember = typeof hello['setName'] === 'string';
  const isMongos = hello['msg'] === 'isdbgrid';
  if (!isReplicaSetMember && !isMongos) {
    return (
      'MongoDB store: the server is a standalone mongod, but Kairos needs multi-document transactions, ' +
      'which MongoDB offers only on a replica set (a single-node one is fine: start mongod with ' +
      '--replSet rs0, run rs.initiate(), and add ?replicaSet=rs0 to MONGODB_URI) or a sharded cluster.'
    );
  }
  const wireVersion = hello['maxWireVersion'];
  if (typeof wireVersion !== 'number' || wireVersion < MIN_WIRE_VERSION) {
    return `MongoDB store: the server is older than MongoDB 6.0 (wire version ${String(wireVersion)}); Kairos needs 6.0 or newer.`;
  }
  return undefined;
}

/** The database named in the URI path (`mongodb://host/kairos?…`), if any. */
export function databaseNameFromUri(uri: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]+)/.exec(uri);
  const name = match?.[1];
  return name === undefined ? undefined : decodeURIComponent(name);
}

/** The URI without its password, for error messages and logs. */
export function redactUri(uri: string): string {
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/)([^@/?]*)@/, (_m, scheme: string, userinfo: string) => {
    const user = userinfo.split(':')[0] ?? '';
    return `${scheme}${user}:***@`;
  });
}
