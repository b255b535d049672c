import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * Credential material travels in this type. Its string, JSON and inspect forms are redacted, so a
 * careless log line or response cannot print it; only `reveal()` yields the value, and each call
 * site of `reveal()` is a place that must be read with care.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}
