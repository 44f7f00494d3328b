// Times for people, in one zone per run (issue 9): the local zone by default, UTC with --utc.
// The clock column of the pretty line is HH:MM:SS.mmm, with the date in front
// (YYYY-MM-DD HH:MM:SS.mmm) when the event is not from today there; messages and
// `mongo-tail token` print ISO 8601 with the zone's offset (peopleTime).

const pad2 = (n: number): string => String(n).padStart(2, '0');
const pad3 = (n: number): string => String(n).padStart(3, '0');

/** A moment's calendar fields in one zone. */
interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/**
 * Returns a function printing a Date as `HH:MM:SS.mmm`, or `YYYY-MM-DD HH:MM:SS.mmm` when its
 * day in the zone is not today's (by `now`). `timeZone` is 'UTC', an IANA zone name (e.g.
 * 'Europe/Paris'), or undefined for the process's local zone. An unknown zone throws a
 * RangeError here, once, rather than on every event.
 */
export function createClock(
  timeZone?: string,
  now: () => Date = () => new Date(),
): (d: Date) => string {
  const fields = zoneFields(timeZone);
  const dayOf = (f: Fields): number => f.year * 10_000 + f.month * 100 + f.day;
  // Today's day, computed again once a minute at most: a day starts on a whole minute in
  // every zone in use.
  let todayMinute = NaN;
  let today = 0;
  return (d) => {
    if (Number.isNaN(d.getTime())) return '--:--:--.---';
    const f = fields(d);
    const time = `${pad2(f.hour)}:${pad2(f.minute)}:${pad2(f.second)}.${pad3(d.getUTCMilliseconds())}`;
    const nowMs = now().getTime();
    const minute = Math.floor(nowMs / 60_000);
    if (minute !== todayMinute) {
      todayMinute = minute;
      today = dayOf(fields(new Date(nowMs)));
    }
    if (dayOf(f) === today) return time;
    return `${String(f.year).padStart(4, '0')}-${pad2(f.month)}-${pad2(f.day)} ${time}`;
  };
}

/**
 * A moment in messages and `mongo-tail token`: ISO 8601 with the zone's offset,
 * `2026-11-29T17:53:36+01:00`, or `2026-11-29T16:53:36Z` where the offset is zero (UTC);
 * milliseconds only when there are some. `timeZone` as for createClock.
 */
export function peopleTime(date: Date, timeZone?: string): string {
  const ms = date.getTime();
  if (Number.isNaN(ms)) return 'invalid date';
  const f = fieldsIn(timeZone)(date);
  const milli = date.getUTCMilliseconds();
  // The offset is the zone's wall clock read as if it were UTC, minus the moment itself.
  const wall = new Date(0);
  wall.setUTCFullYear(f.year, f.month - 1, f.day);
  wall.setUTCHours(f.hour, f.minute, f.second);
  const offset = Math.round((wall.getTime() - (ms - milli)) / 1000);
  const y = f.year;
  const year =
    y >= 0 && y <= 9999
      ? String(y).padStart(4, '0')
      : `${y < 0 ? '-' : '+'}${String(Math.abs(y)).padStart(6, '0')}`;
  const fraction = milli === 0 ? '' : `.${pad3(milli)}`;
  return (
    `${year}-${pad2(f.month)}-${pad2(f.day)}T${pad2(f.hour)}:${pad2(f.minute)}:${pad2(f.second)}` +
    `${fraction}${offsetText(offset)}`
  );
}

/** `Z`, `+01:00`, `-03:30`; seconds only for the odd historical offset that has them. */
function offsetText(seconds: number): string {
  if (seconds === 0) return 'Z';
  const abs = Math.abs(seconds);
  const hm = `${seconds < 0 ? '-' : '+'}${pad2(Math.floor(abs / 3600))}:${pad2(Math.floor(abs / 60) % 60)}`;
  return abs % 60 === 0 ? hm : `${hm}:${pad2(abs % 60)}`;
}

// One field reader per zone: building an Intl.DateTimeFormat costs far more than using one.
const readers = new Map<string | undefined, (d: Date) => Fields>();

function fieldsIn(timeZone: string | undefined): (d: Date) => Fields {
  let reader = readers.get(timeZone);
  if (reader === undefined) {
    reader = zoneFields(timeZone);
    readers.set(timeZone, reader);
  }
  return reader;
}

function zoneFields(timeZone: string | undefined): (d: Date) => Fields {
  if (timeZone === undefined) {
    return (d) => ({
      year: d.getFullYear(),
      month: d.getMonth() + 1,
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
    });
  }
  if (timeZone.toUpperCase() === 'UTC') {
    return (d) => ({
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    });
  }
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
  } catch {
    throw new RangeError(
      `unknown time zone '${timeZone}' (use 'UTC' or an IANA name such as 'Europe/Paris')`,
    );
  }
  return (d) => {
    const f: Fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
    for (const part of fmt.formatToParts(d)) {
      if (part.type in f) f[part.type as keyof Fields] = Number(part.value);
    }
    // Every zone in use today has whole-second offsets, so milliseconds are zone-independent.
    return f;
  };
}
