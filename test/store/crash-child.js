'use strict';
/**
 * Child process for embedded-crash.test.ts: commits multi-document writes as fast as it can from
 * several concurrent workers and prints the id of every acknowledged commit on its own line,
 * until the parent SIGKILLs it. Commit `<w>-<n>` creates Slots `c<w>-<n>-0..k-1` and moves the
 * worker's `progress-<w>` Slot to version n + 2, all in one commit.
 * argv: dataDir docsPerCommit workers snapshotEveryBytes
 */
require('../helpers/ts-register');
const { createEmbeddedStore } = require('../../src/store/embedded/embedded-store.ts');

const [dataDir, docsArg, workersArg, snapshotArg] = process.argv.slice(2);
const docsPerCommit = Number(docsArg);
const workers = Number(workersArg);
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

function slot(id, versionId, comment) {
  const start = T0 + (id.length % 7) * 900000;
  const now = Date.now();
  return {
    resourceType: 'Slot',
    id,
    method: versionId === 1 ? 'POST' : 'PUT',
    resource: {
      resourceType: 'Slot',
      id,
      meta: { versionId: String(versionId), lastUpdated: new Date(now).toISOString() },
      schedule: { reference: 'Schedule/crash' },
      status: 'free',
      start: new Date(start).toISOString(),
      end: new Date(start + 900000).toISOString(),
      comment,
    },
    versionId,
    lastUpdated: now,
    s: { schedule: ['Schedule/crash'], status: ['free'], start: [{ lo: start, hi: start + 1000 }] },
    o: { start },
    previousVersionId: versionId - 1,
  };
}

async function worker(store, w) {
  await store.commit([slot(`progress-${w}`, 1, 'start')]);
  for (let n = 0; ; n++) {
    const id = `${w}-${n}`;
    const writes = [];
    for (let k = 0; k < docsPerCommit; k++) writes.push(slot(`c${id}-${k}`, 1, id));
    writes.push(slot(`progress-${w}`, n + 2, id));
    await store.commit(writes);
    process.stdout.write(`${id}\n`);
  }
}

createEmbeddedStore({ dataDir, snapshotEveryBytes: Number(snapshotArg) }).then(
  (store) => {
    process.stdout.write('ready\n');
    for (let w = 0; w < workers; w++) {
      worker(store, w).catch((e) => {
        process.stderr.write(`${e && e.stack}\n`);
        process.exit(1);
      });
    }
  },
  (e) => {
    process.stderr.write(`${e && e.stack}\n`);
    process.exit(1);
  },
);
