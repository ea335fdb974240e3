import { GatewayError } from '../errors/gateway-error.ts';

// OpenAI's expiry policy for a file, `{ anchor: "created_at", seconds }`: an
// upload's `expires_after`, a batch's `output_expires_after` (for its result
// files). The anchor is the file's own creation; OpenAI takes 1 hour to 30 days.

const shortestSeconds = 3600;
const longestSeconds = 30 * 24 * 3600;

/** The policy's seconds, or undefined when none was given; a bad policy is a 400 naming the field at fault. */
export function expiresAfterSeconds(policy: unknown, param: string): number | undefined {
  if (policy === undefined || policy === null) return undefined;
  if (typeof policy !== 'object' || Array.isArray(policy)) throw refused(param, `${param} must be an object { anchor: "created_at", seconds }.`);
  const { anchor, seconds, ...rest } = policy as Record<string, unknown>;
  const stray = Object.keys(rest)[0];
  if (stray !== undefined) throw refused(`${param}.${stray}`, `${param} takes only anchor and seconds, not ${stray}.`);
  if (anchor !== 'created_at') throw refused(`${param}.anchor`, `${param}.anchor must be "created_at".`);
  // Multipart form fields arrive as text.
  const value = typeof seconds === 'string' && /^\d{1,10}$/.test(seconds) ? Number(seconds) : seconds;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < shortestSeconds || value > longestSeconds) {
    throw refused(`${param}.seconds`, `${param}.seconds must be a whole number from ${shortestSeconds} (1 hour) to ${longestSeconds} (30 days).`);
  }
  return value;
}

function refused(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}
