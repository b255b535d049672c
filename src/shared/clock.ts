export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(at: string | Date): Clock & { set(at: string | Date): void; advance(ms: number): void } {
  let current = new Date(at);
  return {
    now: () => new Date(current),
    set: (next) => {
      current = new Date(next);
    },
    advance: (ms) => {
      current = new Date(current.getTime() + ms);
    },
  };
}

/** Milliseconds since the epoch by `clock`; for the system clock without making a Date (hot paths). */
export function nowMs(clock: Clock): number {
  return clock === systemClock ? Date.now() : clock.now().getTime();
}

// The ISO text of the last second formatted ("YYYY-MM-DDTHH:MM:SS."), reused by isoAt.
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * `new Date(ms).toISOString()`, faster for times that come in order: the text up to the second is
 * made once a second and the milliseconds appended. The gateway stamps every call, and the usage
 * writer turns each stamp into text; formatting a Date each time was a measurable part of a call.
 */
export function isoAt(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const text = new Date(second * 1000).toISOString();
    // Years outside 0000–9999 are written with a sign and six digits: no shortcut for those.
    if (text.length !== 24) return new Date(ms).toISOString();
    isoSecond = second;
    isoPrefix = text.slice(0, 20);
  }
  const frac = ms - second * 1000;
  if (!Number.isInteger(frac)) return new Date(ms).toISOString();
  return `${isoPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}
