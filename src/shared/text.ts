/**
 * Half of a character beyond the BMP without its other half (a lone UTF-16 surrogate): no encoding
 * can store it, so storage turns it into U+FFFD. Global, for `replace`; `hasLoneSurrogate` tests.
 */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether `text` holds a lone surrogate (`search` ignores the global regex's position). */
export function hasLoneSurrogate(text: string): boolean {
  return text.search(LONE_SURROGATE) >= 0;
}
