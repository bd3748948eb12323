import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';

/**
 * The embedded store's journal: numbered append-only segment files `journal-<n>.log`. One record
 * is one commit (all its writes), framed as
 *
 *   [u32 LE payload length][u32 LE CRC-32 of the payload][payload]
 *
 * so that a torn or corrupt tail (a crash mid-append) is recognised and cut off on recovery, which
 * makes a multi-document commit all-or-nothing across a crash. The payload is one line per write
 * (see write-codec.ts), so each version has its own byte range and the journal doubles as the
 * history store: segments are never deleted, only no longer replayed once a snapshot covers them.
 */

export const RECORD_HEADER_BYTES = 8;

/** Segment numbers and byte offsets are packed into one double: offset < 2^40 (1 TiB per segment). */
const SEGMENT_FACTOR = 2 ** 40;

export function packLocation(segment: number, offset: number): number {
  return segment * SEGMENT_FACTOR + offset;
}

export function unpackLocation(location: number): { segment: number; offset: number } {
  const segment = Math.floor(location / SEGMENT_FACTOR);
  return { segment, offset: location - segment * SEGMENT_FACTOR };
}

export function segmentFileName(segment: number): string {
  return `journal-${String(segment).padStart(8, '0')}.log`;
}

const SEGMENT_PATTERN = /^journal-(\d{8})\.log$/;

/** Segment numbers present in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** A line of a record: its text, encoded as UTF-8 into the record. */
export interface RecordLine {
  readonly text: string;
}

/** Initial room of a RecordBuilder: a booking's few writes fit, a generator run's thousands double it a few times. */
const INITIAL_RECORD_BYTES = 16 * 1024;
/** The largest record buffer kept for the next commit (a generator run's record is ~4 MB). */
const KEPT_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Builds one commit's record line by line: each line's text is encoded into the record when it is
 * added, so no line text outlives its encoding. Holding the texts until the whole record could be
 * sized kept a generator run's ~2,000 flattened ~1.6 KB lines alive across young-generation
 * collections, which copied and promoted them (the scavenger's cost is what survives it).
 */
export class RecordBuilder {
  private at = RECORD_HEADER_BYTES;
  /** Each line's byte offset inside the record. */
  readonly lineOffsets: number[] = [];
  /** Each line's UTF-8 length. */
  readonly lineLengths: number[] = [];

  /** `buffer`: where to build (its contents are overwritten), grown as needed; see `reusableBuffer`. */
  constructor(private buffer: Buffer = Buffer.allocUnsafe(INITIAL_RECORD_BYTES)) {}

  /**
   * The buffer to build a later record in, once this one is written (JournalWriter keeps it):
   * reusing it spares the kernel's page faults of a fresh multi-megabyte buffer per generator run.
   * Undefined when it grew too large to keep.
   */
  get reusableBuffer(): Buffer | undefined {
    return this.buffer.length <= KEPT_RECORD_BYTES ? this.buffer : undefined;
  }

  add(text: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units); one more for the newline.
    this.reserve(text.length * 3 + 1);
    if (this.lineOffsets.length > 0) this.buffer[this.at++] = 0x0a;
    this.lineOffsets.push(this.at);
    const length = this.buffer.write(text, this.at, 'utf8');
    this.lineLengths.push(length);
    this.at += length;
  }

  /** The framed record (a view of the builder's buffer; add nothing after this). */
  finish(): Buffer {
    const record = this.buffer.subarray(0, this.at);
    const payload = record.subarray(RECORD_HEADER_BYTES);
    record.writeUInt32LE(payload.length, 0);
    record.writeUInt32LE(crc32(payload), 4);
    return record;
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }
}

/** Frames one commit's write lines into a record; returns it with each line's offset inside the record. */
export function encodeRecord(lines: readonly RecordLine[]): { record: Buffer; lineOffsets: number[] } {
  const builder = new RecordBuilder();
  for (const line of lines) builder.add(line.text);
  return { record: builder.finish(), lineOffsets: builder.lineOffsets };
}

/** One write line found while scanning a segment: where it is and its bytes. */
export interface ScannedLine {
  /** Byte offset of the line in the segment file. */
  offset: number;
  bytes: Buffer;
}

/**
 * Reads every complete record of a segment in order. Returns the length of the valid prefix; bytes
 * after it are a torn or corrupt tail (the caller truncates the last segment there).
 */
export function scanSegment(file: string, onRecord: (lines: ScannedLine[]) => void): { validBytes: number; fileBytes: number } {
  const data = fs.readFileSync(file);
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= data.length) {
    const length = data.readUInt32LE(at);
    const checksum = data.readUInt32LE(at + 4);
    const start = at + RECORD_HEADER_BYTES;
    const end = start + length;
    if (length === 0 || end > data.length) break;
    const payload = data.subarray(start, end);
    if (crc32(payload) !== checksum) break;
    const lines: ScannedLine[] = [];
    let lineStart = 0;
    while (lineStart <= payload.length) {
      let lineEnd = payload.indexOf(0x0a, lineStart);
      if (lineEnd < 0) lineEnd = payload.length;
      lines.push({ offset: start + lineStart, bytes: payload.subarray(lineStart, lineEnd) });
      lineStart = lineEnd + 1;
    }
    onRecord(lines);
    at = end;
  }
  return { validBytes: at, fileBytes: data.length };
}

const fdatasync = promisify(fs.fdatasync);

/**
 * Records up to this size are written on the main thread (`append`); larger ones (a generator run's
 * megabytes, whose copy was a tenth of its time) on a libuv thread.
 */
export const SYNC_WRITE_MAX_BYTES = 64 * 1024;
/** Record buffers kept for reuse: two generator runs are in flight at a time. */
const SPARE_RECORD_BUFFERS = 2;

/** Writes all of `bytes` at `position` of `fd`, on a libuv thread. */
async function writeAt(fd: number, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await new Promise<number>((resolve, reject) => {
      fs.write(fd, bytes, written, bytes.length - written, position + written, (error, n) => (error === null ? resolve(n) : reject(error)));
    });
  }
}

/** Writes all of `bytes` at `position` of `fd` on this thread. */
function writeAllSync(fd: number, bytes: Buffer, position: number): void {
  let written = 0;
  while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written, position + written);
}

/** fsync a directory so that file creations and renames in it are durable (POSIX). */
export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The segment being appended to, with group commit: `append` runs inside the store's write lock
 * and copies the record to the file (page cache): a small one (a booking's) on this thread, a
 * large one on a libuv thread so the main thread goes on (a generator run's record is megabytes:
 * the copy was a tenth of its time); `waitDurable(seq)` runs outside the lock, and every commit
 * waiting at that moment shares the next fdatasync, which starts only once every record appended
 * before it is in the file. A commit is acknowledged only once such an fdatasync has completed.
 * Until its write completes, a large record's lines are read from memory (`unwritten`), so every
 * line is readable once appended.
 */
export class JournalWriter {
  private fd: number;
  private segmentNumber: number;
  private bytes: number;
  private appendedSeq = 0;
  private durableSeq = 0;
  private syncing: Promise<void> | undefined;
  /** Records whose write has not completed, in append order: reads of their lines are served from here. */
  private readonly inFlight: Array<{ offset: number; record: Buffer }> = [];
  /** Settles once every record appended so far is in the file, or its write failed (`writeFailure`). */
  private written: Promise<void> = Promise.resolve();
  private writeFailure: { error: unknown } | undefined;
  /** Buffers of written records, to build the next records in (RecordBuilder: no fresh pages per commit). */
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly dir: string,
    segment: number,
    fd: number,
    bytes: number,
  ) {
    this.segmentNumber = segment;
    this.fd = fd;
    this.bytes = bytes;
  }

  /** Opens (creating if needed) a segment for appending at `bytes`. */
  static open(dir: string, segment: number, bytes: number): JournalWriter {
    const file = path.join(dir, segmentFileName(segment));
    const existed = fs.existsSync(file);
    const fd = fs.openSync(file, existed ? 'r+' : 'wx+');
    if (!existed) syncDirectory(dir);
    return new JournalWriter(dir, segment, fd, bytes);
  }

  get segment(): number {
    return this.segmentNumber;
  }

  /** Bytes in the current segment. */
  get size(): number {
    return this.bytes;
  }

  /** A builder for the next record, in the buffer of a record already written when there is one. */
  newRecord(): RecordBuilder {
    return new RecordBuilder(this.spare.pop());
  }

  /**
   * Appends the built record (`builder` is finished here); returns its sequence number and the
   * file offset it starts at. The record's lines are readable (`unwritten`) at once; it is in the
   * file by the time an fdatasync of `waitDurable` starts.
   */
  append(builder: RecordBuilder): { seq: number; offset: number } {
    if (this.writeFailure !== undefined) throw this.writeFailure.error;
    const record = builder.finish();
    const offset = this.bytes;
    if (record.length <= SYNC_WRITE_MAX_BYTES) {
      // A small record (a booking's few lines) is copied to the page cache right here: measured,
      // the hand-off to a libuv thread and back cost ~60 µs of CPU per record against ~12 for the
      // copy itself, on the path every booking takes under the write lock.
      writeAllSync(this.fd, record, offset);
      this.keepBuffer(builder);
    } else {
      const pending = { offset, record };
      this.inFlight.push(pending);
      const done = writeAt(this.fd, record, offset).catch((error: unknown) => {
        this.writeFailure ??= { error };
      });
      // In append order: a record leaves `inFlight` (and its buffer may be reused) only once it and
      // every record before it are in the file.
      this.written = Promise.all([this.written, done]).then(() => {
        this.inFlight.splice(this.inFlight.indexOf(pending), 1);
        this.keepBuffer(builder);
      });
    }
    this.bytes += record.length;
    this.appendedSeq += 1;
    return { seq: this.appendedSeq, offset };
  }

  /** Keeps a written record's buffer to build a later record in (RecordBuilder.reusableBuffer). */
  private keepBuffer(builder: RecordBuilder): void {
    const reusable = builder.reusableBuffer;
    if (reusable !== undefined && this.spare.length < SPARE_RECORD_BUFFERS) this.spare.push(reusable);
  }

  /**
   * The `length` bytes at `location` (packLocation) when they are in a record whose write has not
   * completed (a copy: the record's buffer is reused), undefined otherwise (read the file).
   */
  unwritten(location: number, length: number): Buffer | undefined {
    if (this.inFlight.length === 0) return undefined;
    const { segment, offset } = unpackLocation(location);
    if (segment !== this.segmentNumber) return undefined;
    for (const { offset: start, record } of this.inFlight) {
      if (offset >= start && offset + length <= start + record.length) return Buffer.from(record.subarray(offset - start, offset - start + length));
    }
    return undefined;
  }

  /** Resolves once record `seq` (and everything before it) is on stable storage. */
  async waitDurable(seq: number): Promise<void> {
    while (this.durableSeq < seq) {
      if (this.syncing !== undefined) {
        await this.syncing;
        continue;
      }
      const target = this.appendedSeq;
      // Only what is in the file can be synced: first every record appended up to `target`.
      const sync = this.written
        .then(() => {
          if (this.writeFailure !== undefined) throw this.writeFailure.error;
          return fdatasync(this.fd);
        })
        .then(() => {
          this.durableSeq = Math.max(this.durableSeq, target);
        });
      this.syncing = sync.finally(() => {
        this.syncing = undefined;
      });
      await this.syncing;
    }
  }

  /** Makes everything appended so far durable. */
  async syncAll(): Promise<void> {
    await this.waitDurable(this.appendedSeq);
  }

  /**
   * Continues in a new, empty segment. Call inside the write lock after `syncAll`, so no fsync is
   * in flight on the old file descriptor.
   */
  rotate(): void {
    const next = this.segmentNumber + 1;
    const file = path.join(this.dir, segmentFileName(next));
    const fd = fs.openSync(file, 'wx+');
    syncDirectory(this.dir);
    fs.closeSync(this.fd);
    this.fd = fd;
    this.segmentNumber = next;
    this.bytes = 0;
  }

  /** Closes the segment once no write is in flight on it (a queued write must not reach a reused descriptor). */
  async close(): Promise<void> {
    await this.written;
    fs.closeSync(this.fd);
  }
}
