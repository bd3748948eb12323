import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import pino from 'pino';
import { createApp } from '../../src/app';
import type { AppDependencies } from '../../src/app';
import { loadConfig } from '../../src/config';
import type { Config } from '../../src/config';
import { createEmbeddedStore } from '../../src/store/embedded/embedded-store';
import type { Store } from '../../src/store/store';

export interface TestApp {
  app: Express;
  store: Store;
  config: Config;
  dataDir: string;
  close: () => Promise<void>;
}

export const BASE_URL = 'http://127.0.0.1:8080/fhir';

/** The real app on a real embedded store in a fresh temporary directory. */
export async function startTestApp(
  env: Record<string, string> = {},
  overrides: Partial<Omit<AppDependencies, 'store' | 'config'>> = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kairos-test-'));
  const config = loadConfig({ BASE_URL: BASE_URL, DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env });
  const store = await createEmbeddedStore({ dataDir });
  const logger = pino({ level: 'silent' });
  const app = createApp({ store, config, now: () => Date.now(), logger, ...overrides });
  return {
    app,
    store,
    config,
    dataDir,
    close: async () => {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const FHIR_JSON = 'application/fhir+json';
