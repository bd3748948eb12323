import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * One process per data directory (SPEC §2: the embedded store is single-process). `LOCK` is
 * created exclusively and holds the owner's pid; a lock whose pid is no longer running (the
 * owner was killed) is taken over. A pid that is alive, including our own (a second store in the
 * same process), means the directory is in use.
 */

export const LOCK_FILE = 'LOCK';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export class DataDirectoryLock {
  private constructor(private readonly file: string) {}

  static acquire(dir: string): DataDirectoryLock {
    const file = path.join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeSync(fd, `${process.pid}\n`);
        } finally {
          fs.closeSync(fd);
        }
        return new DataDirectoryLock(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = readOwner(file);
      if (owner !== undefined && isRunning(owner)) {
        throw new Error(`embedded store: data directory ${dir} is in use by process ${owner} (${file})`);
      }
      // Stale (owner dead) or unreadable (a crash between create and write): take it over.
      fs.rmSync(file, { force: true });
    }
    throw new Error(`embedded store: could not lock data directory ${dir}`);
  }

  release(): void {
    if (readOwner(this.file) === process.pid) fs.rmSync(this.file, { force: true });
  }
}
