import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEmbeddedStore } from '../../src/store/embedded/embedded-store';

/**
 * kill -9 in the middle of a stream of multi-document commits (SPEC §2: the embedded store
 * survives kill -9 without losing an acknowledged write). A real child process commits from
 * several workers at once (so group commit is in play) and prints each acknowledged commit; we
 * SIGKILL it mid-stream, reopen its data directory and check every acknowledged commit is fully
 * there and no commit is there in part.
 */

const CHILD = path.join(__dirname, 'crash-child.js');
const DOCS_PER_COMMIT = 3;
const WORKERS = 4;

interface CrashRun {
  dir: string;
  acknowledged: string[];
}

function runAndKill(snapshotEveryBytes: number, killAfterAcks: number): Promise<CrashRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-crash-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(DOCS_PER_COMMIT), String(WORKERS), String(snapshotEveryBytes)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acknowledged: string[] = [];
    let buffered = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line !== 'ready') acknowledged.push(line);
      if (!killed && acknowledged.length >= killAfterAcks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own: ${stderr}`));
      else resolve({ dir, acknowledged });
    });
  });
}

async function checkRecovered({ dir, acknowledged }: CrashRun): Promise<void> {
  const store = await createEmbeddedStore({ dataDir: dir });
  try {
    const slots = (await store.find('Slot', { filter: {} })).documents;
    const perCommit = new Map<string, number>();
    for (const doc of slots) {
      const match = /^c(\d+-\d+)-\d+$/.exec(doc._id);
      if (match?.[1] !== undefined) perCommit.set(match[1], (perCommit.get(match[1]) ?? 0) + 1);
    }
    // No commit is half there.
    for (const [commit, count] of perCommit) expect({ commit, count }).toEqual({ commit, count: DOCS_PER_COMMIT });
    // Every acknowledged commit is there.
    const missing = acknowledged.filter((commit) => perCommit.get(commit) !== DOCS_PER_COMMIT);
    expect(missing).toEqual([]);
    // The progress Slot updated in the same commits agrees with the commits present.
    for (let w = 0; w < WORKERS; w++) {
      const present = [...perCommit.keys()].filter((commit) => commit.startsWith(`${w}-`)).length;
      const progress = await store.read('Slot', `progress-${w}`);
      expect({ worker: w, version: progress?.versionId }).toEqual({ worker: w, version: present + 1 });
    }
    // The recovered store takes new commits.
    await store.commit([
      {
        resourceType: 'Slot',
        id: 'after-crash',
        method: 'POST',
        resource: { resourceType: 'Slot', id: 'after-crash' },
        versionId: 1,
        lastUpdated: Date.now(),
        s: {},
        o: {},
        previousVersionId: 0,
      },
    ]);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('embedded store: kill -9 mid-stream', () => {
  test('keeps every acknowledged multi-document commit and no partial one (journal only)', async () => {
    const run = await runAndKill(64 * 1024 * 1024, 400);
    expect(run.acknowledged.length).toBeGreaterThanOrEqual(400);
    await checkRecovered(run);
  }, 60_000);

  test('keeps every acknowledged commit when snapshots and segment roll-overs happen during the stream', async () => {
    const run = await runAndKill(16 * 1024, 600);
    expect(run.acknowledged.length).toBeGreaterThanOrEqual(600);
    await checkRecovered(run);
  }, 60_000);
});
