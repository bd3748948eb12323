import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Config } from '../config';
import { FhirError, operationOutcome, unauthorized } from '../fhir/outcome';
import { isValidId } from '../fhir/resource-types';
import { scopeList } from '../fhir/smart-scopes';
import type { Caller } from '../interactions/fhir-request';

/** Turns the `Authorization` header into the Caller, or throws a 401 FhirError. */
export type Authenticator = (authorization: string | undefined) => Promise<Caller>;

/** SPEC §6: with AUTH_MODE=none every caller is staff, recorded in the audit trail as `anonymous`. */
export const ANONYMOUS: Caller = Object.freeze({ subject: 'anonymous', kind: 'user' });

const REALM = 'kairos';

/** RFC 7518 asymmetric algorithms: a JWKS never verifies HMAC tokens (no algorithm confusion). */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Clock skew tolerated on `exp` / `nbf` between the issuer and Kairos. */
const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * RFC 6750 §3: without any credentials the challenge carries no error code; with a bad token it
 * says `invalid_token` and why.
 */
function challenge(description?: string): string {
  if (description === undefined) return `Bearer realm="${REALM}"`;
  return `Bearer realm="${REALM}", error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"`;
}

function invalidToken(description: string): FhirError {
  return unauthorized(`Invalid bearer token: ${description}`, challenge(description));
}

/** The key source is unreachable or broken: the server's problem, not the client's (503, retry later). */
function keysUnavailable(): FhirError {
  return new FhirError(
    503,
    operationOutcome({ code: 'exception', diagnostics: 'The token signing keys (JWT_JWKS) cannot be loaded right now; try again later' }),
    { 'Retry-After': '5' },
  );
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  return match?.[1];
}

function isUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

/** A JWKS document from a file, read on first use (createApp does no I/O) and kept. */
function localKeySet(path: string): JWTVerifyGetKey {
  let loaded: Promise<JWTVerifyGetKey> | undefined;
  const load = async (): Promise<JWTVerifyGetKey> => {
    const text = await readFile(path, 'utf8');
    return createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
  };
  return async (header, token) => {
    loaded ??= load();
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await loaded;
    } catch {
      loaded = undefined;
      throw keysUnavailable();
    }
    return getKey(header, token);
  };
}

interface VerificationKey {
  key: JWTVerifyGetKey | Uint8Array;
  algorithms: string[];
}

function verificationKey(config: Config): VerificationKey {
  if (config.jwtJwks !== undefined) {
    // createRemoteJWKSet fetches lazily (first verification) and caches, refetching on an unknown `kid`.
    const key = isUrl(config.jwtJwks) ? createRemoteJWKSet(new URL(config.jwtJwks)) : localKeySet(config.jwtJwks);
    return { key, algorithms: ASYMMETRIC_ALGORITHMS };
  }
  if (config.jwtSecret !== undefined) return { key: new TextEncoder().encode(config.jwtSecret), algorithms: ['HS256'] };
  throw new Error('AUTH_MODE=jwt without JWT_JWKS or JWT_SECRET (config.ts should have refused this)');
}

function joseCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function joseClaim(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('claim' in e)) return undefined;
  const claim = (e as { claim: unknown }).claim;
  return typeof claim === 'string' ? claim : undefined;
}

/** Maps a jose failure to the 401 that says what was wrong (or a 503 when the keys are unreachable). */
function verificationError(e: unknown): FhirError {
  if (e instanceof FhirError) return e;
  const code = joseCode(e);
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return invalidToken('the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = joseClaim(e);
      if (claim === 'aud') return invalidToken('the token is not meant for this server (aud)');
      if (claim === 'iss') return invalidToken('the token comes from an issuer this server does not trust (iss)');
      if (claim === 'nbf') return invalidToken('the token is not valid yet (nbf)');
      return invalidToken(`the token claim "${claim ?? 'unknown'}" is missing or invalid`);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return invalidToken('the signature does not verify');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return invalidToken('no trusted key matches the token');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return invalidToken('the token algorithm is not accepted');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return invalidToken('the token is malformed');
    default:
      // ERR_JWKS_TIMEOUT, ERR_JWKS_INVALID, fetch failures: the key source, not the token.
      return keysUnavailable();
  }
}

/** `Patient/x`, or an absolute URL ending in `/Patient/x` (SMART `fhirUser`). */
function patientOfFhirUser(fhirUser: unknown): string | undefined {
  if (typeof fhirUser !== 'string') return undefined;
  const match = /(?:^|\/)Patient\/([^/]+)$/.exec(fhirUser);
  return match?.[1];
}

/**
 * The Caller a verified token stands for (SPEC §6): a `patient` claim or a `fhirUser` that is a
 * Patient makes a patient-context caller bound to that Patient; otherwise a token with a user
 * identity (`fhirUser`, or any `user/` scope) is staff, and anything else is a backend `system`.
 */
export function callerOfClaims(payload: JWTPayload): Caller {
  const subject = payload.sub;
  if (typeof subject !== 'string' || subject.length === 0) throw invalidToken('the token has no subject (sub)');
  const scopes = scopeList(payload['scope'] ?? payload['scp']);
  const claimed = payload['patient'];
  if (claimed !== undefined && (typeof claimed !== 'string' || !isValidId(claimed))) {
    throw invalidToken('the patient claim is not a Patient id');
  }
  const fromFhirUser = patientOfFhirUser(payload['fhirUser']);
  if (fromFhirUser !== undefined && !isValidId(fromFhirUser)) throw invalidToken('fhirUser is not a valid Patient reference');
  if (claimed !== undefined && fromFhirUser !== undefined && claimed !== fromFhirUser) {
    throw invalidToken('the patient claim and fhirUser name different patients');
  }
  const patientId = claimed ?? fromFhirUser;
  if (patientId !== undefined) return { subject, kind: 'patient', patientId, scopes };
  const isUser = payload['fhirUser'] !== undefined || scopes.some((s) => s.startsWith('user/'));
  return { subject, kind: isUser ? 'user' : 'system', scopes };
}

/**
 * Builds the authenticator for AUTH_MODE (SPEC §6). Nothing is read or fetched here: a JWKS file is
 * read, and a JWKS URL fetched, on the first token to verify.
 */
export function createAuthenticator(config: Config): Authenticator {
  if (config.authMode === 'none') return () => Promise.resolve(ANONYMOUS);
  const { key, algorithms } = verificationKey(config);
  return async (authorization) => {
    if (authorization === undefined) throw unauthorized('This server requires a bearer token (Authorization: Bearer …)', challenge());
    const token = bearerToken(authorization);
    if (token === undefined) throw invalidToken('the Authorization header is not "Bearer <token>"');
    const options = {
      algorithms,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
    };
    let payload: JWTPayload;
    try {
      // Two calls rather than a union argument: jwtVerify's overloads take a key or a key getter.
      payload = (key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options)).payload;
    } catch (e) {
      throw verificationError(e);
    }
    return callerOfClaims(payload);
  };
}
