/**
 * Measures slot generation into a fresh embedded store (issue "Slot generator" speed): N
 * Schedules (default 100) open 08:00–16:00 every day with 15-minute slots, so 32 Slots a day,
 * materialised 90 days ahead by the periodic job's body (`generateAllSchedules`). Prints Slots/s,
 * RSS, and how long reads took while the job ran (the server must keep answering).
 *
 *   npx tsc --outDir /tmp/gb --rootDir . --module commonjs --target ES2022 --esModuleInterop \
 *     --resolveJsonModule --skipLibCheck scripts/generation-bench.ts
 *   node --expose-gc /tmp/gb/scripts/generation-bench.js [schedules] [days] [--no-snapshots]
 *
 * `--no-snapshots` sets snapshotEveryBytes out of reach, so the generator's own cost shows without
 * the background snapshots a 200 MB journal otherwise triggers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Practitioner } from 'fhir/r4';
import type { StoredFhirResource } from '../src/fhir/resource-types';
import { generateAllSchedules } from '../src/scheduling/generator';
import { createEmbeddedStore } from '../src/store/embedded/embedded-store';
import { listSegments } from '../src/store/embedded/journal';
import { listSnapshots } from '../src/store/embedded/snapshot';
import { nextVersion } from '../src/store/resource-write';
import type { ResourceWrite } from '../src/store/store';
import { scheduleResource } from './demo-clinic';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const SCHEDULES = Number(args[0] ?? 100);
const DAYS = Number(args[1] ?? 90);
const SNAPSHOTS = !process.argv.includes('--no-snapshots');
const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const SERVICE = { coding: [{ system: 'http://snomed.info/sct', code: '394802001', display: 'General medicine' }] };

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-generation-'));
  const store = await createEmbeddedStore({ dataDir: dir, ...(SNAPSHOTS ? {} : { snapshotEveryBytes: Number.MAX_SAFE_INTEGER }) });
  const now = Date.now();
  const writes: ResourceWrite[] = [];
  for (let i = 0; i < SCHEDULES; i++) {
    const practitioner: Practitioner = { resourceType: 'Practitioner', active: true, name: [{ family: `Doctor ${i}` }] };
    writes.push(nextVersion('Practitioner', `p${i}`, practitioner as StoredFhirResource, 'POST', undefined, now));
    const schedule = scheduleResource({
      id: `s${i}`,
      actors: [`Practitioner/p${i}`],
      serviceType: [SERVICE],
      availability: { slotMinutes: 15, hours: [{ days: EVERY_DAY, start: '08:00:00', end: '16:00:00' }] },
    });
    writes.push(nextVersion('Schedule', schedule.id, schedule as StoredFhirResource, 'POST', undefined, now));
  }
  await store.commit(writes);
  console.log(`${SCHEDULES} schedules × ${DAYS} days × 32 slots in ${dir}${SNAPSHOTS ? '' : ' (no snapshots)'}; RSS ${rssMb()} MB`);

  // Reads while the job runs: one Slot search 5 ms after the previous one answered. `latencies`
  // is the search itself; `responses` counts from when it was due, so it includes the time the
  // event loop was busy with the job (what a client of the server would wait).
  const latencies: number[] = [];
  const responses: number[] = [];
  let running = true;
  const reads = (async (): Promise<void> => {
    let k = 0;
    while (running) {
      const due = process.hrtime.bigint() + 5_000_000n;
      await new Promise((resolve) => setTimeout(resolve, 5));
      const t = process.hrtime.bigint();
      await store.find('Slot', { filter: { 's.schedule': { $in: [`Schedule/s${k++ % SCHEDULES}`] } }, sort: [['o.start', 1]], limit: 50 });
      const done = process.hrtime.bigint();
      latencies.push(Number(done - t) / 1e6);
      responses.push(Number(done - due) / 1e6);
    }
  })();

  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const result = await generateAllSchedules(store, () => now, { horizonDays: DAYS, agent: 'bench' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  // CPU time too: on a shared machine wall time mostly measures the neighbours.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  running = false;
  await reads;
  latencies.sort((a, b) => a - b);
  responses.sort((a, b) => a - b);
  console.log(`generated ${result.created} Slots in ${Math.round(ms)} ms: ${Math.round((result.created / ms) * 1000)} Slots/s; CPU ${Math.round(cpuMs)} ms: ${Math.round((result.created / cpuMs) * 1000)} Slots per CPU-second`);
  console.log(
    `reads during the job: ${latencies.length}, median ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms, max ${(latencies[latencies.length - 1] ?? NaN).toFixed(2)} ms`,
  );
  console.log(
    `  from due to answered (event-loop wait included): median ${percentile(responses, 0.5).toFixed(2)} ms, p99 ${percentile(responses, 0.99).toFixed(2)} ms, max ${(responses[responses.length - 1] ?? NaN).toFixed(2)} ms`,
  );
  // Background snapshots started during the job compete with it for the thread: show how many there were.
  console.log(`when the job ended: ${listSegments(dir).length} journal segments, ${listSnapshots(dir).length} snapshot files`);
  console.log(`RSS after generation: ${rssMb()} MB (heap used ${Math.round(process.memoryUsage().heapUsed / 1024 / 1024)} MB)`);
  const closeStart = Date.now();
  await store.close();
  console.log(`close: ${Date.now() - closeStart} ms`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
