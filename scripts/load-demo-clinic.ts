import type { Bundle, OperationOutcome } from 'fhir/r4';
import { CLINIC, demoClinic } from './demo-clinic';

/*
 * Loads the demo clinic (scripts/demo-clinic.ts) into a running Kairos:
 *
 *   npm run build && node dist/scripts/load-demo-clinic.js [FHIR base URL]
 *
 * The base defaults to http://127.0.0.1:8080/fhir. Every resource is PUT at its fixed id, so the
 * loader can run again safely; creating the Schedules makes the server generate their Slots.
 */

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080/fhir';

export interface LoadSummary {
  /** `Type/id` of every resource written, in order. */
  written: string[];
  /** Free Slots the server holds for the clinic's schedules after loading. */
  freeSlots: number;
}

async function fhir(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const init: RequestInit = { method, headers: { Accept: 'application/fhir+json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'Content-Type': 'application/fhir+json' };
  }
  const res = await fetch(`${base}/${path}`, init);
  const text = await res.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  if (!res.ok) {
    const issue = (parsed as OperationOutcome | undefined)?.issue?.[0];
    throw new Error(`${method} ${path}: HTTP ${res.status}${issue?.diagnostics === undefined ? '' : ` — ${issue.diagnostics}`}`);
  }
  return parsed;
}

/** PUTs the demo clinic to `base` and counts the free Slots generated for it. */
export async function loadDemoClinic(base: string = DEFAULT_BASE_URL): Promise<LoadSummary> {
  const root = base.replace(/\/+$/, '');
  const written: string[] = [];
  for (const resource of demoClinic()) {
    await fhir(root, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    written.push(`${resource.resourceType}/${resource.id}`);
  }
  const schedules = Object.values(CLINIC.schedules).map((id) => `Schedule/${id}`);
  const count = (await fhir(root, 'GET', `Slot?schedule=${schedules.join(',')}&status=free&_count=0&_total=accurate`)) as Bundle;
  return { written, freeSlots: count.total ?? 0 };
}

async function main(): Promise<void> {
  const base = process.argv[2] ?? DEFAULT_BASE_URL;
  const summary = await loadDemoClinic(base);
  process.stdout.write(`Loaded ${summary.written.length} resources into ${base}; ${summary.freeSlots} free Slots.\n`);
  process.stdout.write(
    `Try: curl '${base}/Appointment/$find?start=${new Date().toISOString().slice(0, 10)}&end=${new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10)}&service=HealthcareService/${CLINIC.services.checkup}&_count=3'\n`,
  );
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`load-demo-clinic: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
