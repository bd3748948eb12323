/**
 * Configuration: environment variables only, parsed and validated once at start (SPEC §1).
 * A bad value stops the process with a message naming the variable.
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** Absolute FHIR base URL, no trailing slash. */
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly mongodbUri: string | undefined;
  readonly authMode: 'none' | 'jwt';
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: string | undefined;
  readonly jwtJwks: string | undefined;
  readonly jwtSecret: string | undefined;
  readonly holdTtlSeconds: number;
  readonly slotHorizonDays: number;
  /** How often the generator rolls every active Schedule forward. */
  readonly generatorIntervalSeconds: number;
  /** Delay of the generator's first run after start (GENERATOR_FIRST_RUN_SECONDS; capped by the interval). */
  readonly generatorFirstRunSeconds: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Booking operations ($hold, $book, $reschedule) one client may run per minute (token bucket refill rate). */
  readonly rateLimitBookingsPerMinute: number;
  /** How many booking operations a client may run in a burst before the per-minute rate applies. */
  readonly rateLimitBookingsBurst: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const found = allowed.find((a) => a === raw);
  if (found === undefined) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return found;
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env): Config {
  const port = integer(env, 'PORT', 8080, 0, 65535);
  const host = optional(env, 'HOST') ?? '127.0.0.1';
  const baseUrlRaw = optional(env, 'BASE_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}/fhir`;
  let baseUrl: string;
  try {
    const url = new URL(baseUrlRaw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    baseUrl = url.toString().replace(/\/+$/, '');
  } catch {
    throw new ConfigError(`BASE_URL must be an absolute http(s) URL, got "${baseUrlRaw}"`);
  }
  const mongodbUri = optional(env, 'MONGODB_URI');
  if (mongodbUri !== undefined && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) {
    throw new ConfigError('MONGODB_URI must start with mongodb:// or mongodb+srv://');
  }
  const authMode = oneOf(env, 'AUTH_MODE', ['none', 'jwt'] as const, 'none');
  const jwtJwks = optional(env, 'JWT_JWKS');
  const jwtSecret = optional(env, 'JWT_SECRET');
  if (authMode === 'jwt' && jwtJwks === undefined && jwtSecret === undefined) {
    throw new ConfigError('AUTH_MODE=jwt needs JWT_JWKS (a JWKS file path or URL) or JWT_SECRET (HS256)');
  }
  const jwtIssuer = optional(env, 'JWT_ISSUER');
  const jwtAudience = optional(env, 'JWT_AUDIENCE');
  // SPEC §6: `iss` and `aud` are verified; without them a token minted for another service would pass.
  if (authMode === 'jwt' && (jwtIssuer === undefined || jwtAudience === undefined)) {
    throw new ConfigError('AUTH_MODE=jwt needs JWT_ISSUER and JWT_AUDIENCE (the token iss and aud Kairos accepts)');
  }
  const rateLimitBookingsPerMinute = integer(env, 'RATE_LIMIT_BOOKINGS_PER_MINUTE', 120, 1, 1_000_000);
  return Object.freeze({
    port,
    host,
    baseUrl,
    dataDir: optional(env, 'DATA_DIR') ?? './data',
    mongodbUri,
    authMode,
    jwtIssuer,
    jwtAudience,
    jwtJwks,
    jwtSecret,
    holdTtlSeconds: integer(env, 'HOLD_TTL_SECONDS', 300, 1, 86400),
    slotHorizonDays: integer(env, 'SLOT_HORIZON_DAYS', 90, 1, 3660),
    generatorIntervalSeconds: integer(env, 'GENERATOR_INTERVAL_SECONDS', 3600, 1, 604800),
    generatorFirstRunSeconds: integer(env, 'GENERATOR_FIRST_RUN_SECONDS', 60, 0, 604800),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    rateLimitBookingsPerMinute,
    rateLimitBookingsBurst: integer(env, 'RATE_LIMIT_BOOKINGS_BURST', rateLimitBookingsPerMinute, 1, 1_000_000),
  });
}
