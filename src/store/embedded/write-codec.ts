import { isResourceType } from '../../fhir/resource-types';
import type { StoredFhirResource } from '../../fhir/resource-types';
import type { ResourceWrite, SortKeys, WriteMethod } from '../store';
import type { WriteMeta } from './entry';
import type { RecordLine } from './journal';

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

/**
 * One write encoded for the journal: its line's text and the meta the store applies. The text is
 * encoded into the commit's record (journal.ts RecordBuilder) right away: no Buffer per line.
 */
export class EncodedWrite implements RecordLine {
  constructor(
    readonly text: string,
    readonly meta: WriteMeta,
  ) {}

  /** The line's UTF-8 length. */
  get byteLength(): number {
    return Buffer.byteLength(this.text);
  }

  /** The line on its own. */
  get line(): Buffer {
    return Buffer.from(this.text, 'utf8');
  }
}

// The writes of one commit share lastUpdated: its text is made once (a 13-digit number is a dtoa each time).
let lastUpdatedNumber = Number.NaN;
let lastUpdatedText = '';

function lastUpdatedJson(lastUpdated: number): string {
  if (lastUpdated !== lastUpdatedNumber) {
    lastUpdatedText = String(lastUpdated);
    lastUpdatedNumber = lastUpdated;
  }
  return lastUpdatedText;
}

export function encodeWrite(write: ResourceWrite): EncodedWrite {
  const deleted = write.resource === null;
  const o: SortKeys = deleted ? {} : write.o;
  const json = deleted ? undefined : write.json;
  const searchJson = deleted ? EMPTY_JSON : (json?.s ?? JSON.stringify(write.s));
  // The same text JSON.stringify gives the head object, without building that object: resource
  // types and methods are fixed ASCII words, versionId/lastUpdated finite numbers.
  const head = `{"t":"${write.resourceType}","id":${JSON.stringify(write.id)},"v":${write.versionId},"lu":${lastUpdatedJson(write.lastUpdated)},"m":"${write.method}","o":${json?.o ?? JSON.stringify(o)}}`;
  return new EncodedWrite(`${head}\t${searchJson}\t${deleted ? 'null' : (json?.resource ?? JSON.stringify(write.resource))}`, {
    resourceType: write.resourceType,
    id: write.id,
    versionId: write.versionId,
    lastUpdated: write.lastUpdated,
    method: write.method,
    searchJson,
    o,
    deleted,
  });
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
  const text = decodeWriteResourceText(bytes);
  if (text === null) return null;
  const resource: StoredFhirResource = JSON.parse(text);
  return resource;
}

/** The resource of a write line as its JSON text (what encodeWrite wrote), or null for a delete. */
export function decodeWriteResourceText(bytes: Buffer): string | null {
  const [, second] = tabs(bytes);
  const rest = bytes.subarray(second + 1);
  return rest.equals(NULL_RESOURCE) ? null : rest.toString('utf8');
}
