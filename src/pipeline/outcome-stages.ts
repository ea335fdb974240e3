import { GatewayError } from '../errors/gateway-error.ts';
import { errorBody, errorHeaders } from './error-answer.ts';
import type { Next, RequestContext } from './request-context.ts';
import { responseHeaders } from './response-headers.ts';

// The two stages that wrap all the others: accounting (a metric update and a
// log line however the request ended) and the failure answer (whatever a
// stage threw becomes the client's OpenAI-style error, once).

export async function accountStage(c: RequestContext, next: Next): Promise<void> {
  try {
    await next();
  } finally {
    c.engine.accounting.account(c.request, c.record, c.id, c.engine.clock.now() - c.receivedAt, c.key?.name);
  }
}

export async function answerFailureStage(c: RequestContext, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const failure = asFailure(error);
    if (failure.code === 'internal_error') c.engine.logger.error({ err: failure.cause ?? failure, id: c.id }, 'request failed: a bug in the gateway');
    c.record.status = failure.status;
    c.record.error = failure.code;
    if (failure.code === 'client_closed') {
      c.record.clientGone = true;
      return;
    }
    try {
      if (c.channel.headersSent) c.channel.end();
      else c.channel.sendJson(failure.status, { ...responseHeaders(c), ...errorHeaders(failure, c.record.attempts) }, errorBody(failure, c.engine.redactor));
    } catch (renderFailure) {
      // Nothing more can be said on this connection (the channel closes it); the process goes on.
      c.engine.logger.error({ err: renderFailure, id: c.id }, 'could not send the error answer');
    }
  }
}

function asFailure(error: unknown): GatewayError {
  return error instanceof GatewayError ? error : new GatewayError('internal_error', 'The gateway failed to handle the request.', { cause: error });
}
