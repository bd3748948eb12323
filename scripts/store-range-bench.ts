/**
 * Measures the embedded store with N Slot documents (default 300,000): insert throughput in
 * batches of 1,000, indexed range-query latency, snapshot-on-close and reopen time, and RSS.
 *
 *   node --expose-gc -r ./test/helpers/ts-register.js scripts/store-range-bench.ts [N]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEmbeddedStore } from '../src/store/embedded/embedded-store';
import type { EmbeddedStore } from '../src/store/embedded/embedded-store';
import type { ResourceWrite, StoreQuery } from '../src/store/store';

const COUNT = Number(process.argv[2] ?? 300_000);
const SCHEDULES = Math.max(1, Math.round(COUNT / 3000));
const BATCH = 1000;
const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const SLOTS_PER_DAY = 32; // 8 hours of 15-minute slots
const SERVICE = 'http://terminology.hl7.org/CodeSystem/service-type';

function slotWrite(i: number): ResourceWrite {
  const schedule = `Schedule/s${i % SCHEDULES}`;
  const n = Math.floor(i / SCHEDULES);
  const lo = T0 + Math.floor(n / SLOTS_PER_DAY) * DAY + 8 * 60 * MINUTE + (n % SLOTS_PER_DAY) * 15 * MINUTE;
  const e = lo + 15 * MINUTE;
  const t = Date.now();
  const status = i % 5 === 0 ? 'busy' : 'free';
  const id = `slot-${i}`;
  return {
    resourceType: 'Slot',
    id,
    method: 'POST',
    resource: {
      resourceType: 'Slot',
      id,
      meta: { versionId: '1', lastUpdated: new Date(t).toISOString() },
      schedule: { reference: schedule },
      status,
      start: new Date(lo).toISOString(),
      end: new Date(e).toISOString(),
      serviceType: [{ coding: [{ system: SERVICE, code: '124', display: 'General Practice' }] }],
    } as ResourceWrite['resource'],
    versionId: 1,
    lastUpdated: t,
    s: {
      schedule: [schedule],
      status: [status],
      start: [{ lo, hi: lo + 1000 }],
      end: [{ lo: e, hi: e + 1000 }],
      'service-type': ['124', `${SERVICE}|124`, `${SERVICE}|`],
      _lastUpdated: [{ lo: t, hi: t + 1 }],
    },
    o: { start: lo, _lastUpdated: t },
    previousVersionId: 0,
  };
}

function rssMb(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

async function time(store: EmbeddedStore, label: string, make: (k: number) => StoreQuery): Promise<void> {
  const runs = 500;
  const samples: number[] = [];
  let matches = 0;
  for (let k = 0; k < runs; k++) {
    const query = make(k);
    const start = process.hrtime.bigint();
    const result = await store.find('Slot', query);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    matches += result.total ?? result.documents.length;
  }
  samples.sort((a, b) => a - b);
  console.log(
    `${label}: median ${percentile(samples, 0.5).toFixed(3)} ms, p95 ${percentile(samples, 0.95).toFixed(3)} ms, avg matches ${(matches / runs).toFixed(0)}`,
  );
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-bench-'));
  console.log(`${COUNT} Slots over ${SCHEDULES} schedules in ${dir}; baseline RSS ${rssMb()} MB`);
  let store = await createEmbeddedStore({ dataDir: dir });
  const insertStart = Date.now();
  for (let i = 0; i < COUNT; i += BATCH) {
    const writes: ResourceWrite[] = [];
    for (let j = i; j < Math.min(COUNT, i + BATCH); j++) writes.push(slotWrite(j));
    await store.commit(writes);
  }
  const insertMs = Date.now() - insertStart;
  console.log(`insert: ${insertMs} ms, ${Math.round((COUNT / insertMs) * 1000)} docs/s (batches of ${BATCH}, one fsync each)`);
  console.log(`RSS after insert: ${rssMb()} MB`);

  const days = Math.ceil(COUNT / SCHEDULES / SLOTS_PER_DAY);
  const dayRange = (k: number): Record<string, unknown> => {
    const lo = T0 + ((k * 7) % days) * DAY;
    return { 's.start': { $elemMatch: { lo: { $gte: lo }, hi: { $lte: lo + DAY } } } };
  };
  const queries = async (): Promise<void> => {
    await time(store, 'schedule=one & status=free & start in one day (sort o.start, _count 50, total)', (k) => ({
      filter: { $and: [{ 's.schedule': { $in: [`Schedule/s${(k * 13) % SCHEDULES}`] } }, { 's.status': { $in: ['free'] } }, dayRange(k)] },
      sort: [['o.start', 1]],
      limit: 50,
      count: true,
    }));
    await time(store, 'start in one day (sort o.start, _count 50, total)', (k) => ({
      filter: { $and: [dayRange(k)] },
      sort: [['o.start', 1]],
      limit: 50,
      count: true,
    }));
    await time(store, 'start in one day (count only)', (k) => ({ filter: { $and: [dayRange(k)] }, limit: 0, count: true }));
    await time(store, 'status=free & service-type (unindexed) & start in one day (_count 50)', (k) => ({
      filter: { $and: [{ 's.status': { $in: ['free'] } }, { 's.service-type': { $in: [`${SERVICE}|124`] } }, dayRange(k)] },
      sort: [['o.start', 1]],
      limit: 50,
    }));
  };
  await queries();

  const closeStart = Date.now();
  await store.close();
  console.log(`close (snapshot of ${COUNT}): ${Date.now() - closeStart} ms`);
  const sizes = fs.readdirSync(dir).map((f) => `${f} ${Math.round(fs.statSync(path.join(dir, f)).size / 1024 / 1024)} MB`);
  console.log(`files: ${sizes.join(', ')}`);

  const before = rssMb();
  const openStart = Date.now();
  store = await createEmbeddedStore({ dataDir: dir });
  console.log(`reopen from snapshot: ${Date.now() - openStart} ms; RSS ${rssMb()} MB (before ${before} MB)`);
  await queries();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
