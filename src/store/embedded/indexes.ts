import BTree from 'sorted-btree';
import type { ResourceType } from '../../fhir/resource-types';
import type { IndexValue } from '../store';
import type { Entry } from './entry';

/**
 * Which search values the embedded store indexes in memory, per type. Everything else is still
 * searchable (mingo evaluates it on the candidates); this table only decides what is fast. It is
 * deliberately short: the product must hold 1,000,000 Slots in 1.5 GB, and every hash entry costs
 * ~40 bytes per document. `hash`: token/reference codes (exact-match keys); `date`: DateRange codes
 * (sorted on `lo`); `block`: Appointment `_block` by actor.
 */
export interface IndexSpec {
  readonly hash: readonly string[];
  readonly date: readonly string[];
  readonly block: boolean;
}

export const INDEXED_PARAMETERS: Readonly<Record<ResourceType, IndexSpec>> = {
  Slot: { hash: ['schedule', 'status', 'identifier'], date: ['start', 'end'], block: false },
  Appointment: {
    hash: ['actor', 'patient', 'practitioner', 'location', 'slot', 'status', 'identifier'],
    date: ['date', 'end'],
    block: true,
  },
  Schedule: { hash: ['actor', 'active', 'identifier'], date: [], block: false },
  Patient: { hash: ['identifier'], date: [], block: false },
  Practitioner: { hash: ['identifier'], date: [], block: false },
  PractitionerRole: { hash: ['practitioner', 'location', 'service', 'identifier'], date: [], block: false },
  Location: { hash: ['identifier'], date: [], block: false },
  HealthcareService: { hash: ['identifier'], date: [], block: false },
  Organization: { hash: ['identifier'], date: [], block: false },
  AuditEvent: { hash: ['entity', 'agent'], date: ['date'], block: false },
};

const BLOCK_CODE = '_block';

function isRange(value: IndexValue): value is { lo: number; hi: number } {
  return typeof value === 'object' && typeof value.lo === 'number' && typeof value.hi === 'number';
}

class HashIndex {
  readonly keys = new Map<string, Set<string>>();

  add(key: string, id: string): void {
    const ids = this.keys.get(key);
    if (ids === undefined) this.keys.set(key, new Set([id]));
    else ids.add(id);
  }

  remove(key: string, id: string): void {
    const ids = this.keys.get(key);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.keys.delete(key);
  }
}

/** The ranges starting at one `lo`: parallel arrays (numbers stay unboxed in a double array). */
interface Bucket {
  ids: string[];
  his: number[];
}

/**
 * DateRanges sorted on `lo`. A condition on `hi` becomes a bound on `lo` through the spread of
 * spans (hi - lo) seen so far: lo ∈ [hi - maxSpan, hi - minSpan]. Spans are never narrowed on
 * removal, so the bounds stay safe (only looser).
 */
export class DateIndex {
  readonly tree = new BTree<number, Bucket>();
  minSpan = Infinity;
  maxSpan = -Infinity;

  add(lo: number, hi: number, id: string): void {
    const span = hi - lo;
    if (span < this.minSpan) this.minSpan = span;
    if (span > this.maxSpan) this.maxSpan = span;
    const bucket = this.tree.get(lo);
    if (bucket === undefined) this.tree.set(lo, { ids: [id], his: [hi] });
    else {
      bucket.ids.push(id);
      bucket.his.push(hi);
    }
  }

  remove(lo: number, hi: number, id: string): void {
    const bucket = this.tree.get(lo);
    if (bucket === undefined) return;
    for (let i = 0; i < bucket.ids.length; i++) {
      if (bucket.ids[i] === id && bucket.his[i] === hi) {
        bucket.ids.splice(i, 1);
        bucket.his.splice(i, 1);
        break;
      }
    }
    if (bucket.ids.length === 0) this.tree.delete(lo);
  }
}

/** The in-memory indexes of one resource type, kept in step with its live (non-deleted) entries. */
export class TypeIndexes {
  readonly hash = new Map<string, HashIndex>();
  readonly date = new Map<string, DateIndex>();
  readonly block: HashIndex | undefined;

  constructor(spec: IndexSpec) {
    for (const code of spec.hash) this.hash.set(code, new HashIndex());
    for (const code of spec.date) this.date.set(code, new DateIndex());
    this.block = spec.block ? new HashIndex() : undefined;
  }

  add(entry: Entry): void {
    this.update(entry, true);
  }

  remove(entry: Entry): void {
    this.update(entry, false);
  }

  private update(entry: Entry, adding: boolean): void {
    const id = entry._id;
    for (const [code, index] of this.hash) {
      for (const value of entry.s[code] ?? []) {
        if (typeof value !== 'string') continue;
        if (adding) index.add(value, id);
        else index.remove(value, id);
      }
    }
    for (const [code, index] of this.date) {
      for (const value of entry.s[code] ?? []) {
        if (!isRange(value)) continue;
        if (adding) index.add(value.lo, value.hi, id);
        else index.remove(value.lo, value.hi, id);
      }
    }
    if (this.block !== undefined) {
      for (const value of entry.s[BLOCK_CODE] ?? []) {
        if (typeof value !== 'object' || !('a' in value)) continue;
        if (adding) this.block.add(value.a, id);
        else this.block.remove(value.a, id);
      }
    }
  }
}
