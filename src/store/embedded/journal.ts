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

/** A line of a record as it is encoded: its byte length first, then its bytes written in place. */
export interface RecordLine {
  readonly byteLength: number;
  /** Writes exactly `byteLength` bytes at `at`. */
  writeInto(target: Buffer, at: number): void;
}

/**
 * Frames one commit's write lines into a record; returns it with each line's offset inside the
 * record. Lines write themselves into the record: no Buffer per line, no second copy.
 */
export function encodeRecord(lines: readonly RecordLine[]): { record: Buffer; lineOffsets: number[] } {
  let payloadBytes = lines.length > 0 ? lines.length - 1 : 0;
  for (const line of lines) payloadBytes += line.byteLength;
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payloadBytes);
  const lineOffsets: number[] = [];
  let at = RECORD_HEADER_BYTES;
  lines.forEach((line, i) => {
    if (i > 0) record[at++] = 0x0a;
    lineOffsets.push(at);
    line.writeInto(record, at);
    at += line.byteLength;
  });
  const payload = record.subarray(RECORD_HEADER_BYTES);
  record.writeUInt32LE(payloadBytes, 0);
  record.writeUInt32LE(crc32(payload), 4);
  return { record, lineOffsets };
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
 * and only copies the record to the file (page cache); `waitDurable(seq)` runs outside it, and
 * every commit waiting at that moment shares the next fdatasync. A commit is acknowledged only once
 * an fdatasync that started after its append has completed.
 */
export class JournalWriter {
  private fd: number;
  private segmentNumber: number;
  private bytes: number;
  private appendedSeq = 0;
  private durableSeq = 0;
  private syncing: Promise<void> | undefined;

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

  /** Appends a record; returns its sequence number and the file offset it starts at. */
  append(record: Buffer): { seq: number; offset: number } {
    const offset = this.bytes;
    let written = 0;
    while (written < record.length) {
      written += fs.writeSync(this.fd, record, written, record.length - written, offset + written);
    }
    this.bytes += record.length;
    this.appendedSeq += 1;
    return { seq: this.appendedSeq, offset };
  }

  /** Resolves once record `seq` (and everything before it) is on stable storage. */
  async waitDurable(seq: number): Promise<void> {
    while (this.durableSeq < seq) {
      if (this.syncing !== undefined) {
        await this.syncing;
        continue;
      }
      const target = this.appendedSeq;
      const sync = fdatasync(this.fd).then(() => {
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

  close(): void {
    fs.closeSync(this.fd);
  }
}
