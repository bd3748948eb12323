import { isResourceType } from '../../fhir/resource-types';
import type { SearchIndex, SortKeys, WriteMethod } from '../store';
import type { WriteRecord } from './entry';

/**
 * One version as a line of bytes, used by journal records and snapshot files alike:
 *
 *   {"t":type,"id":…,"v":versionId,"lu":lastUpdated,"m":method,"s":{…},"o":{…}}<TAB><resource JSON | null>
 *
 * JSON.stringify never emits a raw tab or newline, so the first tab splits the line and newlines
 * separate lines. Keeping the resource after the tab lets a reader take its JSON text as is
 * (the store keeps resources as text) without parsing and re-serialising it.
 */

const TAB = 0x09;
const METHODS: readonly WriteMethod[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

export function encodeWriteLine(write: WriteRecord): Buffer {
  const meta = JSON.stringify({
    t: write.resourceType,
    id: write.id,
    v: write.versionId,
    lu: write.lastUpdated,
    m: write.method,
    s: write.s,
    o: write.o,
  });
  return Buffer.from(`${meta}\t${write.json ?? 'null'}`, 'utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function corrupt(what: string): Error {
  return new Error(`embedded store: corrupt data file (${what})`);
}

/** Parses a line written by `encodeWriteLine`; `bytes` may be a view into a larger buffer. */
export function decodeWriteLine(bytes: Buffer): WriteRecord {
  const tab = bytes.indexOf(TAB);
  if (tab < 0) throw corrupt('write line without a tab');
  const meta: unknown = JSON.parse(bytes.toString('utf8', 0, tab));
  if (!isRecord(meta)) throw corrupt('write line meta is not an object');
  const { t, id, v, lu, m, s, o } = meta;
  const method = METHODS.find((known) => known === m);
  if (
    typeof t !== 'string' ||
    !isResourceType(t) ||
    typeof id !== 'string' ||
    typeof v !== 'number' ||
    typeof lu !== 'number' ||
    method === undefined ||
    !isRecord(s) ||
    !isRecord(o)
  ) {
    throw corrupt('write line meta has the wrong shape');
  }
  // Buffer#toString copies into a fresh string, so the resource text does not pin the whole file buffer.
  const json = bytes.toString('utf8', tab + 1);
  return {
    resourceType: t,
    id,
    versionId: v,
    lastUpdated: lu,
    method,
    // Written by encodeWriteLine from a SearchIndex / SortKeys; the frame checksum vouches for the bytes.
    s: s as SearchIndex,
    o: o as SortKeys,
    json: json === 'null' ? null : json,
  };
}
