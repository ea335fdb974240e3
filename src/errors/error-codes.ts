// One table of every failure the gateway can name: its HTTP status, the OpenAI
// error `type` a client SDK expects, and what the gateway does about it. The
// decisions are columns here, read by the mechanisms (attempts, breakers,
// outlier detection, cooldowns, the cache), so no module keeps its own list.
//
// - `action`: retry the same target (after backoff), fail over to another
//   target at once, or give the failure back to the client as it is.
// - `targetFault`: the target itself is at fault; counts against its circuit
//   breaker and its outlier detection (a refused request does not).
// - `cooldown`: the target refused our credentials, balance or model; it is
//   left out for its `failure_cooldown` (it will not heal by itself).
// - `servesStale`: when the request ends in this failure, a kept answer past
//   its ttl (`stale_if_error`) is served instead.
// An attempt's code is also the request's answer when every target failed
// the same way: all rate-limited is a 429 `upstream_rate_limited`, all busy
// a 503 `upstream_overloaded`.

export type ErrorAction = 'retry' | 'failover' | 'return';

export interface ErrorCodeInfo {
  status: number;
  type: string;
  action: ErrorAction;
  targetFault: boolean;
  cooldown: boolean;
  servesStale: boolean;
  description: string;
}

type Row = Pick<ErrorCodeInfo, 'status' | 'type' | 'action' | 'description'> & Partial<Pick<ErrorCodeInfo, 'targetFault' | 'cooldown' | 'servesStale'>>;

const rows = {
  // The client's own mistakes: never retried.
  invalid_json: { status: 400, type: 'invalid_request_error', action: 'return', description: 'The request body is not valid JSON.' },
  invalid_request: { status: 400, type: 'invalid_request_error', action: 'return', description: 'A field is missing or has the wrong type.' },
  forbidden_key: { status: 400, type: 'invalid_request_error', action: 'return', description: 'The body uses a reserved key such as __proto__.' },
  nesting_too_deep: { status: 400, type: 'invalid_request_error', action: 'return', description: 'The body nests JSON deeper than allowed.' },
  invalid_header: { status: 400, type: 'invalid_request_error', action: 'return', description: 'A switchyard request header has a bad value.' },
  invalid_api_key: {
    status: 401,
    type: 'invalid_request_error',
    action: 'return',
    description: 'The gateway API key is missing or wrong, or may not use this route (403); the type and code OpenAI answers a bad key with.',
  },
  route_not_found: { status: 404, type: 'invalid_request_error', action: 'return', description: 'No route or target model has this name.' },
  not_found: { status: 404, type: 'invalid_request_error', action: 'return', description: 'No such endpoint.' },
  body_too_large: { status: 413, type: 'invalid_request_error', action: 'return', description: 'The body is larger than server.body_limit.' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', action: 'return', description: 'Compressed request bodies are refused.' },
  client_closed: {
    status: 499,
    type: 'invalid_request_error',
    action: 'return',
    description: 'The client closed the connection before its request was read whole (logged, never answered).',
  },
  unsupported_operation: { status: 400, type: 'invalid_request_error', action: 'return', description: 'No target of the route supports this operation.' },
  model_not_found: { status: 404, type: 'invalid_request_error', action: 'return', description: 'GET /v1/models/{id} names no route.' },
  response_not_found: { status: 404, type: 'invalid_request_error', action: 'return', description: 'No kept Responses API answer has this id (for this key).' },
  previous_response_not_found: {
    status: 400,
    type: 'invalid_request_error',
    action: 'return',
    description: '`previous_response_id` names no kept answer (for this key), or one that has expired.',
  },

  // The upstream said no because of the request: returned to the client as is.
  upstream_bad_request: { status: 400, type: 'invalid_request_error', action: 'return', description: 'The provider refused the request as invalid.' },
  upstream_context_length: { status: 400, type: 'invalid_request_error', action: 'return', description: 'The prompt is longer than the model context window.' },

  // The upstream cannot serve, and the same target will not heal soon.
  upstream_auth: {
    status: 502,
    type: 'api_error',
    action: 'failover',
    cooldown: true,
    description: 'The provider refused the configured credentials (401/403).',
  },
  upstream_payment: { status: 502, type: 'api_error', action: 'failover', cooldown: true, description: 'The provider account has no balance (402).' },
  upstream_model_not_found: {
    status: 502,
    type: 'api_error',
    action: 'failover',
    cooldown: true,
    description: 'The provider does not know the configured model (404).',
  },
  upstream_redirect: {
    status: 502,
    type: 'api_error',
    action: 'failover',
    cooldown: true,
    description: 'The provider answered with a redirect, which is never followed.',
  },
  upstream_unexpected: { status: 502, type: 'api_error', action: 'failover', description: 'The provider answered an unexpected status.' },

  // Transient: the same target may serve if asked again.
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    action: 'retry',
    targetFault: true,
    servesStale: true,
    description: 'The provider rate-limited the request (429).',
  },
  upstream_overloaded: {
    status: 503,
    type: 'api_error',
    action: 'retry',
    targetFault: true,
    servesStale: true,
    description: 'The provider is busy (503/529).',
  },
  upstream_server_error: {
    status: 502,
    type: 'api_error',
    action: 'retry',
    targetFault: true,
    description: 'The provider failed (5xx), or answered 200 with an error.',
  },
  upstream_connect: { status: 502, type: 'api_error', action: 'retry', targetFault: true, description: 'The provider could not be reached.' },
  upstream_reset: { status: 502, type: 'api_error', action: 'retry', targetFault: true, description: 'The provider closed the connection early.' },
  upstream_first_token_timeout: {
    status: 504,
    type: 'api_error',
    action: 'retry',
    targetFault: true,
    description: 'No first token within timeouts.first_token.',
  },
  upstream_stalled: {
    status: 504,
    type: 'api_error',
    action: 'retry',
    targetFault: true,
    description: 'The provider went silent mid-answer for longer than timeouts.idle (keep-alives do not count); the request was aborted.',
  },
  upstream_malformed: {
    status: 502,
    type: 'api_error',
    action: 'retry',
    targetFault: true,
    description: 'The provider answered something that is not its wire format.',
  },

  // Admission: the gateway itself holds the request back, and says when to come again.
  budget_exceeded: {
    status: 429,
    type: 'insufficient_quota',
    action: 'return',
    description: 'The route has spent its budget for the current window (budget.over: refuse).',
  },
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    action: 'return',
    servesStale: true,
    description: 'A gateway key or every target of the route is over its rate_limit.',
  },
  overloaded: {
    status: 429,
    type: 'rate_limit_error',
    action: 'failover',
    servesStale: true,
    description: "The provider's waiting line was full: shed, least urgent first.",
  },

  // Gateway-wide outcomes.
  deadline_exceeded: {
    status: 504,
    type: 'api_error',
    action: 'return',
    servesStale: true,
    description: 'The request deadline passed before a target answered.',
  },
  no_target_available: { status: 503, type: 'api_error', action: 'return', servesStale: true, description: 'No target of the route could serve the request.' },
  no_private_target: { status: 503, type: 'api_error', action: 'return', description: 'A sensitive request found no private provider to serve it.' },
  store_unavailable: {
    status: 503,
    type: 'api_error',
    action: 'return',
    description: 'The store named by batches.store (files, batches and, with it, kept Responses API answers) cannot be read or written just now.',
  },
  shutting_down: {
    status: 503,
    type: 'api_error',
    action: 'return',
    description: 'The gateway is shutting down and its drain_timeout ran out before this request finished.',
  },
  internal_error: {
    status: 500,
    type: 'api_error',
    action: 'return',
    servesStale: true,
    description: 'A bug in the gateway: logged with its stack, never counted against a provider.',
  },
} as const satisfies Record<string, Row>;

export type ErrorCode = keyof typeof rows;

export const errorCodes: Readonly<Record<ErrorCode, ErrorCodeInfo>> = Object.fromEntries(
  Object.entries(rows).map(([code, row]: [string, Row]) => [code, { targetFault: false, cooldown: false, servesStale: false, ...row }]),
) as Record<ErrorCode, ErrorCodeInfo>;
