import type { Appointment } from 'fhir/r4';

export type AppointmentStatus = Appointment['status'];

/** States in which an Appointment holds its actors' time (SPEC §4.5). */
export const ACTIVE_STATUSES: ReadonlySet<AppointmentStatus> = new Set<AppointmentStatus>(['pending', 'booked', 'arrived', 'checked-in']);

export function isActiveStatus(status: AppointmentStatus): boolean {
  return ACTIVE_STATUSES.has(status);
}

/**
 * SPEC §4.7: proposed → pending → booked → arrived | checked-in → fulfilled; booked → noshow; any
 * active state → cancelled; anything → entered-in-error. Staying in the same state is always
 * allowed (an update that changes other elements). `waitlist` may become pending or booked when
 * time frees up, or be cancelled.
 */
const TRANSITIONS: Readonly<Record<AppointmentStatus, readonly AppointmentStatus[]>> = {
  proposed: ['pending', 'booked', 'cancelled', 'waitlist'],
  pending: ['booked', 'cancelled'],
  booked: ['arrived', 'checked-in', 'noshow', 'cancelled', 'pending'],
  arrived: ['checked-in', 'fulfilled', 'cancelled'],
  'checked-in': ['arrived', 'fulfilled', 'cancelled'],
  fulfilled: [],
  cancelled: [],
  noshow: [],
  'entered-in-error': [],
  waitlist: ['pending', 'booked', 'cancelled'],
};

export function isAllowedTransition(from: AppointmentStatus, to: AppointmentStatus): boolean {
  if (from === to || to === 'entered-in-error') return true;
  return TRANSITIONS[from].includes(to);
}
