import { newId, type LineResult } from './batch-store.ts';
import type { CapturedChannel } from './captured-channel.ts';

// The lines of a batch's output and error files, as OpenAI writes them:
// `{ id, custom_id, response: { status_code, request_id, body }, error }` for a
// line that reached a provider, `{ ..., response: null, error: { code, message } }`
// for one that never did (cancelled, expired, its key removed).

/** Why a line never reached a provider, by the code kept with it. */
const endedBefore: Record<string, string> = {
  batch_cancelled: 'The batch was cancelled before this request was sent.',
  batch_expired: 'The batch expired before this request could be completed.',
};

/** The answer a channel captured, as an output line, with the tokens its usage reports. */
export function lineResult(requestId: string, customId: string, channel: CapturedChannel): { result: string; inputTokens: number; outputTokens: number } {
  const raw = channel.body.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    body = raw;
  }
  const usage = (body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  const result = JSON.stringify({ id: requestId, custom_id: customId, response: { status_code: channel.status, request_id: requestId, body }, error: null });
  return { result, inputTokens: tokens(usage?.prompt_tokens), outputTokens: tokens(usage?.completion_tokens) };
}

function tokens(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

export function lineError(customId: string, code: string, message: string): string {
  return JSON.stringify({ id: newId('batch_req_'), custom_id: customId, response: null, error: { code, message } });
}

/** A stored line as its file's line: its answer, or the error it was ended with. */
export function resultText(line: LineResult): string {
  if (line.result !== null) return line.result;
  const code = line.errorCode ?? 'internal_error';
  return lineError(line.customId, code, endedBefore[code] ?? 'The request was not completed.');
}
