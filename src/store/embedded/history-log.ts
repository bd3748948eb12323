import * as fs from 'node:fs';
import * as path from 'node:path';
import { segmentFileName, unpackLocation } from './journal';
import type { HistoryQuery } from '../store';

/**
 * Where every version of one resource type lives, in commit order: its lastUpdated, versionId and
 * id, and the byte range of its write line in a journal segment (see journal.ts). The versions'
 * content stays on disk and is read on demand, so history costs ~30 bytes of heap per version.
 * Entries hold their own positions (entry.ts `h`) for instance history.
 */
export class HistoryLog {
  private lastUpdated = new Float64Array(1024);
  private versionIds = new Float64Array(1024);
  private locations = new Float64Array(1024);
  private lengths = new Uint32Array(1024);
  private ids: string[] = [];
  private length = 0;
  /** lastUpdated never decreased in commit order, so the log is already (nearly) in history order. */
  private monotonic = true;
  private sortedCache: Int32Array | undefined;

  get count(): number {
    return this.length;
  }

  push(id: string, versionId: number, lastUpdated: number, location: number, byteLength: number): number {
    if (this.length === this.lastUpdated.length) this.grow();
    const i = this.length;
    if (i > 0 && lastUpdated < (this.lastUpdated[i - 1] ?? 0)) this.monotonic = false;
    this.lastUpdated[i] = lastUpdated;
    this.versionIds[i] = versionId;
    this.locations[i] = location;
    this.lengths[i] = byteLength;
    this.ids.push(id);
    this.length = i + 1;
    this.sortedCache = undefined;
    return i;
  }

  /** Doubles the capacity, or more when `atLeast` asks for it (a snapshot's run at once). */
  private grow(atLeast = 0): void {
    const size = Math.max(this.lastUpdated.length * 2, atLeast);
    const grow64 = (from: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const to = new Float64Array(size);
      to.set(from);
      return to;
    };
    this.lastUpdated = grow64(this.lastUpdated);
    this.versionIds = grow64(this.versionIds);
    this.locations = grow64(this.locations);
    const lengths = new Uint32Array(size);
    lengths.set(this.lengths);
    this.lengths = lengths;
  }

  /**
   * Snapshot loading: appends a run of versions at once (their ids are '' until `setId`: they come
   * with the documents, entry `h`).
   */
  load(versionIds: Float64Array, lastUpdated: Float64Array, locations: Float64Array, lengths: Uint32Array): void {
    const n = versionIds.length;
    if (this.length + n > this.lastUpdated.length) this.grow(this.length + n);
    const at = this.length;
    for (let i = 0; i < n; i++) {
      if (at + i > 0 && (lastUpdated[i] ?? 0) < (this.lastUpdated[at + i - 1] ?? 0)) this.monotonic = false;
      this.lastUpdated[at + i] = lastUpdated[i] ?? 0;
    }
    this.versionIds.set(versionIds, at);
    this.locations.set(locations, at);
    this.lengths.set(lengths, at);
    for (let i = 0; i < n; i++) this.ids.push('');
    this.length = at + n;
    this.sortedCache = undefined;
  }

  /** Snapshot loading: the ids come with the documents (entry `h`), not with the log. */
  setId(position: number, id: string): void {
    this.ids[position] = id;
  }

  lastUpdatedAt(i: number): number {
    return this.lastUpdated[i] ?? 0;
  }

  versionIdAt(i: number): number {
    return this.versionIds[i] ?? 0;
  }

  idAt(i: number): string {
    return this.ids[i] ?? '';
  }

  locationAt(i: number): { location: number; length: number } {
    return { location: this.locations[i] ?? 0, length: this.lengths[i] ?? 0 };
  }

  /**
   * Type history, newest first: by lastUpdated, then id, then versionId, all descending (the
   * order the MongoDB store uses, mongo/documents.ts historySort). Returns log positions.
   */
  typeHistory(query: HistoryQuery): { positions: number[]; total: number } {
    if (!this.monotonic) return this.typeHistoryUnordered(query);
    const lower = query.since === undefined ? 0 : this.firstAtOrAfter(query.since);
    const upper = query.at === undefined ? this.length : this.firstAfter(query.at);
    const total = Math.max(0, upper - lower);
    const positions: number[] = [];
    let skip = query.skip;
    let runEnd = upper;
    // Walk runs of equal lastUpdated from the newest; only runs that overlap the page get sorted.
    while (runEnd > lower && positions.length < query.limit) {
      const time = this.lastUpdatedAt(runEnd - 1);
      let runStart = runEnd - 1;
      while (runStart > lower && this.lastUpdatedAt(runStart - 1) === time) runStart -= 1;
      const runLength = runEnd - runStart;
      if (skip >= runLength) {
        skip -= runLength;
      } else {
        const run: number[] = [];
        for (let i = runStart; i < runEnd; i++) run.push(i);
        run.sort((a, b) => this.compareNewestFirst(a, b));
        for (const p of run.slice(skip, skip + query.limit - positions.length)) positions.push(p);
        skip = 0;
      }
      runEnd = runStart;
    }
    return { positions, total };
  }

  /** Instance history, newest (highest versionId) first, over the given positions. */
  instanceHistory(all: readonly number[], query: HistoryQuery): { positions: number[]; total: number } {
    const matching = all.filter((p) => this.inWindow(p, query)).sort((a, b) => this.versionIdAt(b) - this.versionIdAt(a));
    return { positions: matching.slice(query.skip, query.skip + query.limit), total: matching.length };
  }

  private inWindow(p: number, query: HistoryQuery): boolean {
    const time = this.lastUpdatedAt(p);
    return (query.since === undefined || time >= query.since) && (query.at === undefined || time <= query.at);
  }

  private compareNewestFirst(a: number, b: number): number {
    const byTime = this.lastUpdatedAt(b) - this.lastUpdatedAt(a);
    if (byTime !== 0) return byTime;
    const idA = this.idAt(a);
    const idB = this.idAt(b);
    if (idA !== idB) return idA < idB ? 1 : -1;
    return this.versionIdAt(b) - this.versionIdAt(a);
  }

  /** Callers' clocks went backwards at some point: sort the whole log once and cache it until the next write. */
  private typeHistoryUnordered(query: HistoryQuery): { positions: number[]; total: number } {
    if (this.sortedCache === undefined) {
      const order = new Int32Array(this.length);
      for (let i = 0; i < this.length; i++) order[i] = i;
      order.sort((a, b) => this.compareNewestFirst(a, b));
      this.sortedCache = order;
    }
    const matching: number[] = [];
    for (const p of this.sortedCache) if (this.inWindow(p, query)) matching.push(p);
    return { positions: matching.slice(query.skip, query.skip + query.limit), total: matching.length };
  }

  private firstAtOrAfter(time: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lastUpdatedAt(mid) < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private firstAfter(time: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lastUpdatedAt(mid) <= time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A consistent view for a background snapshot: later pushes never touch positions below `count`. */
  capture(): HistoryCapture {
    return {
      count: this.length,
      lastUpdated: this.lastUpdated,
      versionIds: this.versionIds,
      locations: this.locations,
      lengths: this.lengths,
      ids: this.ids,
    };
  }
}

export interface HistoryCapture {
  count: number;
  lastUpdated: Float64Array;
  versionIds: Float64Array;
  locations: Float64Array;
  lengths: Uint32Array;
  ids: readonly string[];
}

/** Reads write lines back from journal segments by location (journal.ts packLocation); one fd per segment, kept open. */
export class SegmentReader {
  private readonly fds = new Map<number, number>();
  private closed = false;

  constructor(private readonly dir: string) {}

  read(location: number, length: number): Buffer {
    if (this.closed) throw new Error('embedded store: the store is closed');
    const { segment, offset } = unpackLocation(location);
    let fd = this.fds.get(segment);
    if (fd === undefined) {
      fd = fs.openSync(path.join(this.dir, segmentFileName(segment)), 'r');
      this.fds.set(segment, fd);
    }
    const bytes = Buffer.allocUnsafe(length);
    let read = 0;
    while (read < length) {
      const n = fs.readSync(fd, bytes, read, length - read, offset + read);
      if (n === 0) throw new Error(`embedded store: a history location points past the end of ${segmentFileName(segment)}`);
      read += n;
    }
    return bytes;
  }

  close(): void {
    this.closed = true;
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}
