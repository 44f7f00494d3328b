// The clock column of the pretty line: HH:MM:SS.mmm in the local zone, UTC, or an IANA zone.

const pad2 = (n: number): string => String(n).padStart(2, '0');
const pad3 = (n: number): string => String(n).padStart(3, '0');

/**
 * Returns a function printing a Date as `HH:MM:SS.mmm`. `timeZone` is 'UTC', an IANA zone name
 * (e.g. 'Europe/Paris'), or undefined for the process's local zone. An unknown zone throws a
 * RangeError here, once, rather than on every event.
 */
export function createClock(timeZone?: string): (d: Date) => string {
  const clock = zoneClock(timeZone);
  return (d) => (Number.isNaN(d.getTime()) ? '--:--:--.---' : clock(d));
}

function zoneClock(timeZone: string | undefined): (d: Date) => string {
  if (timeZone === undefined) {
    return (d) =>
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())}`;
  }
  if (timeZone.toUpperCase() === 'UTC') {
    return (d) =>
      `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${pad3(d.getUTCMilliseconds())}`;
  }
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-GB', {
      timeZone,
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
    let h = '00';
    let m = '00';
    let s = '00';
    for (const part of fmt.formatToParts(d)) {
      if (part.type === 'hour') h = part.value;
      else if (part.type === 'minute') m = part.value;
      else if (part.type === 'second') s = part.value;
    }
    // Every zone in use today has whole-second offsets, so milliseconds are zone-independent.
    return `${h}:${m}:${s}.${pad3(d.getUTCMilliseconds())}`;
  };
}
