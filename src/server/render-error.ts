import { GatewayError } from '../errors/gateway-error.ts';
import { echoed } from '../errors/echo.ts';

// Fastify's and Node's own errors, named as gateway errors so they leave as
// OpenAI error JSON like every other (see pipeline/error-answer.ts).

interface FrameworkError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** Fastify's and Node's own errors (body too large, bad media type...) named as gateway errors. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const framework = error as FrameworkError;
  switch (framework?.statusCode) {
    case 413:
      return new GatewayError('body_too_large', 'The request body is larger than the configured body_limit.');
    case 415:
      return new GatewayError('unsupported_media_type', framework.message ?? 'Unsupported media type.');
    case 400:
      if (framework.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
      return new GatewayError('invalid_request', echoed(framework.message ?? 'Bad request.'));
    case 414:
      return new GatewayError('invalid_request', 'The URL is longer than the gateway accepts.', { status: 414 });
    case 408:
      return new GatewayError('invalid_request', 'The request body did not arrive in time.', { status: 408 });
    default:
      return new GatewayError('internal_error', 'The gateway failed to handle the request.', { cause: error });
  }
}
