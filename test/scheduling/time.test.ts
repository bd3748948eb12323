import {
  formatInstant,
  isDateTime,
  isInstant,
  isValidZone,
  localDayOf,
  localSpanToInstants,
  localToInstant,
  parseDateTime,
  parseTimeOfDay,
  weekdayOfLocalDay,
  zoneRules,
} from '../../src/scheduling/time';

const at = (iso: string): number => Date.parse(iso);
const local = (wallClock: string): number => Date.parse(`${wallClock}Z`);

describe('isValidZone', () => {
  it.each(['Europe/Athens', 'America/New_York', 'America/Argentina/Buenos_Aires', 'UTC', 'Etc/GMT+5'])(
    'accepts the IANA zone %s',
    (zone) => expect(isValidZone(zone)).toBe(true),
  );
  it.each(['Mars/Olympus', '+03:00', 'GMT+3:00', '', 'Europe/Athens ', 'EET/Somewhere'])('rejects %j', (zone) =>
    expect(isValidZone(zone)).toBe(false),
  );
});

describe('zoneRules', () => {
  it('throws a RangeError for an unknown zone', () => {
    expect(() => zoneRules('Nowhere/Special')).toThrow(RangeError);
  });

  it('finds the exact spring-forward instant in America/New_York', () => {
    const rules = zoneRules('America/New_York');
    expect(rules.transitionsIn(at('2027-03-14T00:00:00Z'), at('2027-03-15T00:00:00Z'))).toEqual([
      { at: at('2027-03-14T07:00:00Z'), before: -300, after: -240 },
    ]);
    expect(rules.offsetAt(at('2027-03-14T06:59:59Z'))).toBe(-300);
    expect(rules.offsetAt(at('2027-03-14T07:00:00Z'))).toBe(-240);
  });

  it('finds a transition that falls exactly on 00:00:00 UTC (Asia/Gaza)', () => {
    const gaza = zoneRules('Asia/Gaza');
    expect(gaza.transitionsIn(at('2027-03-26T00:00:00Z'), at('2027-03-28T00:00:00Z'))).toEqual([
      { at: at('2027-03-27T00:00:00Z'), before: 120, after: 180 },
    ]);
    expect(localSpanToInstants(gaza, local('2027-03-27T01:00:00'), local('2027-03-27T04:00:00'))).toEqual([
      { start: at('2027-03-27T01:00:00+02:00'), end: at('2027-03-27T04:00:00+03:00') },
    ]);
  });

  it('finds the exact fall-back instant in Europe/Athens', () => {
    const rules = zoneRules('Europe/Athens');
    expect(rules.transitionsIn(at('2026-10-24T00:00:00Z'), at('2026-10-27T00:00:00Z'))).toEqual([
      { at: at('2026-10-25T01:00:00Z'), before: 180, after: 120 },
    ]);
  });
});

describe('localSpanToInstants', () => {
  const ny = zoneRules('America/New_York');

  it('maps a span on an ordinary day to one interval at the day offset', () => {
    expect(localSpanToInstants(ny, local('2026-06-01T08:00:00'), local('2026-06-01T12:00:00'))).toEqual([
      { start: at('2026-06-01T08:00:00-04:00'), end: at('2026-06-01T12:00:00-04:00') },
    ]);
  });

  it('drops the nonexistent hour of a spring-forward day', () => {
    expect(localSpanToInstants(ny, local('2027-03-14T01:00:00'), local('2027-03-14T04:00:00'))).toEqual([
      { start: at('2027-03-14T01:00:00-05:00'), end: at('2027-03-14T04:00:00-04:00') },
    ]);
    // The whole span lies in the gap.
    expect(localSpanToInstants(ny, local('2027-03-14T02:00:00'), local('2027-03-14T03:00:00'))).toEqual([]);
  });

  it('covers both occurrences of the repeated hour on a fall-back day', () => {
    expect(localSpanToInstants(ny, local('2026-11-01T00:00:00'), local('2026-11-01T03:00:00'))).toEqual([
      { start: at('2026-11-01T00:00:00-04:00'), end: at('2026-11-01T03:00:00-05:00') },
    ]);
    expect(localSpanToInstants(ny, local('2026-11-01T00:00:00'), local('2026-11-01T01:30:00'))).toEqual([
      { start: at('2026-11-01T00:00:00-04:00'), end: at('2026-11-01T01:30:00-04:00') },
      { start: at('2026-11-01T01:00:00-05:00'), end: at('2026-11-01T01:30:00-05:00') },
    ]);
  });

  it('returns nothing for an empty span', () => {
    expect(localSpanToInstants(ny, local('2026-06-01T08:00:00'), local('2026-06-01T08:00:00'))).toEqual([]);
  });
});

describe('localToInstant', () => {
  const ny = zoneRules('America/New_York');
  it('resolves a time in the spring-forward gap to the end of the gap', () => {
    expect(localToInstant(ny, local('2027-03-14T02:30:00'))).toBe(at('2027-03-14T03:00:00-04:00'));
  });
  it('resolves a repeated time to its first occurrence', () => {
    expect(localToInstant(ny, local('2026-11-01T01:30:00'))).toBe(at('2026-11-01T01:30:00-04:00'));
  });
});

describe('local days', () => {
  const athens = zoneRules('Europe/Athens');
  it('gives the local day and ISO weekday (0 = Monday) of an instant', () => {
    // 2026-06-01T22:30Z is already Tuesday 01:30 in Athens.
    const day = localDayOf(athens, at('2026-06-01T22:30:00Z'));
    expect(day).toBe(Date.parse('2026-06-02T00:00:00Z') / 86_400_000);
    expect(weekdayOfLocalDay(day)).toBe(1);
    expect(weekdayOfLocalDay(0)).toBe(3); // 1970-01-01 was a Thursday
  });
});

describe('formatInstant', () => {
  it('writes the zone offset, not Z', () => {
    expect(formatInstant(at('2027-03-14T07:00:00Z'), zoneRules('America/New_York'))).toBe('2027-03-14T03:00:00-04:00');
    expect(formatInstant(at('2026-06-01T05:00:00Z'), zoneRules('Europe/Athens'))).toBe('2026-06-01T08:00:00+03:00');
    expect(formatInstant(at('2026-06-01T05:00:00Z'), zoneRules('UTC'))).toBe('2026-06-01T05:00:00+00:00');
    expect(formatInstant(at('2026-06-01T05:30:00Z'), zoneRules('Asia/Kolkata'))).toBe('2026-06-01T11:00:00+05:30');
  });
  it('keeps milliseconds only when there are some', () => {
    expect(formatInstant(at('2026-06-01T05:00:00.250Z'), zoneRules('Europe/Athens'))).toBe('2026-06-01T08:00:00.250+03:00');
  });
  it('memoised day and offset texts give what toISOString gives, across days, zones and DST changes', () => {
    const zones = ['Europe/Athens', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'].map(zoneRules);
    const reference = (instant: number, rules: ReturnType<typeof zoneRules>): string => {
      const offset = rules.offsetAt(instant);
      const iso = new Date(instant + offset * 60_000).toISOString();
      const sign = offset < 0 ? '-' : '+';
      const abs = Math.abs(offset);
      return `${iso.slice(0, 19)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    };
    // Every 7 minutes 13 seconds for a year, alternating zones so the memo keeps changing.
    const mismatches: string[] = [];
    for (let instant = at('2026-01-01T00:00:00Z'), i = 0; instant < at('2027-01-01T00:00:00Z'); instant += 433_000, i++) {
      const rules = zones[i % zones.length] ?? zoneRules('UTC');
      const expected = reference(instant, rules);
      if (formatInstant(instant, rules) !== expected) mismatches.push(expected);
    }
    expect(mismatches).toEqual([]);
    expect(formatInstant(at('0001-01-01T00:00:00Z'), zoneRules('UTC'))).toBe('0001-01-01T00:00:00+00:00');
  });
});

describe('parseDateTime', () => {
  const athens = zoneRules('Europe/Athens');
  it('reads a date as the whole local day', () => {
    expect(parseDateTime('2026-12-25', athens)).toEqual({
      lo: at('2026-12-25T00:00:00+02:00'),
      hi: at('2026-12-26T00:00:00+02:00'),
      hasTime: false,
    });
  });
  it('reads year and year-month precision as local calendar spans', () => {
    expect(parseDateTime('2026-02', athens)).toEqual({ lo: at('2026-02-01T00:00:00+02:00'), hi: at('2026-03-01T00:00:00+02:00'), hasTime: false });
    expect(parseDateTime('2027', athens)?.hi).toBe(at('2028-01-01T00:00:00+02:00'));
  });
  it('honours an explicit offset and reads a zoneless time in the zone', () => {
    expect(parseDateTime('2026-06-01T13:00:00-04:00', athens)?.lo).toBe(at('2026-06-01T17:00:00Z'));
    expect(parseDateTime('2026-06-01T13:00:00', athens)?.lo).toBe(at('2026-06-01T13:00:00+03:00'));
    expect(parseDateTime('2026-06-01T13:00:00.5Z', athens)).toEqual({ lo: at('2026-06-01T13:00:00.500Z'), hi: at('2026-06-01T13:00:00.501Z'), hasTime: true });
  });
  it.each(['2026-02-30', '2026-13-01', '26-01-01', '2026-06-01T25:00:00Z', '2026-06-01T10:00Z', 'tomorrow'])(
    'rejects %j',
    (value) => expect(parseDateTime(value, athens)).toBeUndefined(),
  );
  it('tells instants from other dateTimes', () => {
    expect(isInstant('2026-06-01T10:00:00Z')).toBe(true);
    expect(isInstant('2026-06-01T10:00:00')).toBe(false);
    expect(isInstant('2026-06-01')).toBe(false);
    expect(isDateTime('2026-06-01')).toBe(true);
    expect(isDateTime('2026-06-31')).toBe(false);
  });
});

describe('parseTimeOfDay', () => {
  it('reads hh:mm:ss with an optional fraction', () => {
    expect(parseTimeOfDay('08:30:00')).toBe(30_600_000);
    expect(parseTimeOfDay('23:59:59.5')).toBe(86_399_500);
  });
  it.each(['8:30:00', '08:30', '24:00:00', '12:60:00', ''])('rejects %j', (value) => expect(parseTimeOfDay(value)).toBeUndefined());
});
