import { isResourceType } from '../../fhir/resource-types';
import type { StoredFhirResource } from '../../fhir/resource-types';
import type { ResourceWrite, SortKeys, WriteMethod } from '../store';
import type { WriteMeta } from './entry';

/**
 * One version as a line of bytes in a journal record:
 *
 *   {"t":type,"id":…,"v":versionId,"lu":lastUpdated,"m":method,"o":{…}}<TAB><s JSON><TAB><resource JSON | null>
 *
 * JSON.stringify never emits a raw tab or newline, so tabs split the line and newlines separate
 * lines. Replay takes the `s` text as is (the store keeps it as text) and never parses the
 * resource; the resource is parsed only when a document or version is read.
 */

const TAB = 0x09;
const METHODS: readonly WriteMethod[] = ['POST', 'PUT', 'PATCH', 'DELETE'];
const NULL_RESOURCE = Buffer.from('null');
const EMPTY_JSON = '{}';

export interface EncodedWrite {
  line: Buffer;
  meta: WriteMeta;
}

export function encodeWrite(write: ResourceWrite): EncodedWrite {
  const deleted = write.resource === null;
  const o: SortKeys = deleted ? {} : write.o;
  const searchJson = deleted ? EMPTY_JSON : JSON.stringify(write.s);
  // The same text JSON.stringify gives the head object, without building that object: resource
  // types and methods are fixed ASCII words, versionId/lastUpdated finite numbers.
  const head = `{"t":"${write.resourceType}","id":${JSON.stringify(write.id)},"v":${write.versionId},"lu":${write.lastUpdated},"m":"${write.method}","o":${JSON.stringify(o)}}`;
  return {
    line: Buffer.from(`${head}\t${searchJson}\t${deleted ? 'null' : JSON.stringify(write.resource)}`, 'utf8'),
    meta: {
      resourceType: write.resourceType,
      id: write.id,
      versionId: write.versionId,
      lastUpdated: write.lastUpdated,
      method: write.method,
      searchJson,
      o,
      deleted,
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function corrupt(what: string): Error {
  return new Error(`embedded store: corrupt journal (${what})`);
}

function tabs(bytes: Buffer): [number, number] {
  const first = bytes.indexOf(TAB);
  const second = first < 0 ? -1 : bytes.indexOf(TAB, first + 1);
  if (second < 0) throw corrupt('write line without its two tabs');
  return [first, second];
}

/** Parses a line written by `encodeWrite`, except its resource; `bytes` may be a view into a larger buffer. */
export function decodeWriteMeta(bytes: Buffer): WriteMeta {
  const [first, second] = tabs(bytes);
  const head: unknown = JSON.parse(bytes.toString('utf8', 0, first));
  if (!isRecord(head)) throw corrupt('write line head is not an object');
  const { t, id, v, lu, m, o } = head;
  const method = METHODS.find((known) => known === m);
  if (
    typeof t !== 'string' ||
    !isResourceType(t) ||
    typeof id !== 'string' ||
    typeof v !== 'number' ||
    typeof lu !== 'number' ||
    method === undefined ||
    !isRecord(o)
  ) {
    throw corrupt('write line head has the wrong shape');
  }
  return {
    resourceType: t,
    id,
    versionId: v,
    lastUpdated: lu,
    method,
    // Buffer#toString copies, so the text does not pin the buffer it was read from.
    searchJson: decodeWriteSearchJson(bytes),
    // Written by encodeWrite from SortKeys; the record checksum vouches for the bytes.
    o: o as SortKeys,
    deleted: bytes.subarray(second + 1).equals(NULL_RESOURCE),
  };
}

/** The `s` JSON text of a write line (entries loaded from a snapshot read it on use). */
export function decodeWriteSearchJson(bytes: Buffer): string {
  const [first, second] = tabs(bytes);
  return bytes.toString('utf8', first + 1, second);
}

/** The resource of a write line (a fresh object), or null for a delete. */
export function decodeWriteResource(bytes: Buffer): StoredFhirResource | null {
  const [, second] = tabs(bytes);
  const resource: StoredFhirResource | null = JSON.parse(bytes.toString('utf8', second + 1));
  return resource;
}
