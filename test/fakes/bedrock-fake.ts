import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { isRawFault, pieces, sendJson, sendRaw, startFake, tokens, type FakeExchange, type FakeUpstream } from './fake-server.ts';

// Bedrock Runtime's Converse and ConverseStream as the API reference
// describes them: SigV4-signed `POST /model/{modelId}/converse[-stream]`,
// errors as `{"message"}` with `x-amzn-ErrorType`, and streams in the binary
// `application/vnd.amazon.eventstream` framing, encoded with Smithy's codec:
// messageStart, contentBlockStart (tool use), contentBlockDelta,
// contentBlockStop, messageStop, metadata; each payload padded with a "p"
// field as Bedrock does, and one frame cut across two writes.

export type BedrockFault = 'validation' | 'access_denied' | 'throttled' | 'not_ready' | 'unavailable' | 'internal' | 'stream_throttled';

export interface BedrockFake extends FakeUpstream<BedrockFault> {
  lastToolResult: { toolUseId: string; content: unknown } | undefined;
  /** Model ids as Bedrock decoded them from the path. */
  models: string[];
}

const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => Buffer.from(text, 'utf8'),
);

const faults: Record<Exclude<BedrockFault, 'stream_throttled'>, { status: number; name: string; message: string }> = {
  validation: { status: 400, name: 'ValidationException', message: 'The model returned the following errors: temperature: must be between 0 and 1' },
  access_denied: { status: 403, name: 'AccessDeniedException', message: "You don't have access to the model with the specified model ID." },
  throttled: { status: 429, name: 'ThrottlingException', message: 'Too many requests, please wait before trying again.' },
  not_ready: { status: 429, name: 'ModelNotReadyException', message: 'Model is not ready for inference. Wait and try your request again.' },
  unavailable: { status: 503, name: 'ServiceUnavailableException', message: 'Bedrock is unable to process your request.' },
  internal: { status: 500, name: 'InternalServerException', message: 'The server encountered an internal error.' },
};

type Block = { text?: string; toolUse?: { toolUseId: string; name: string; input: unknown }; toolResult?: { toolUseId: string; content: unknown } };

function sendError(response: ServerResponse, status: number, name: string, message: string): void {
  sendJson(
    response,
    status,
    { message },
    { 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': randomUUID() },
  );
}

function frame(messageType: 'event' | 'exception', name: string, payload: Record<string, unknown>): Buffer {
  const headers = {
    [messageType === 'event' ? ':event-type' : ':exception-type']: { type: 'string' as const, value: name },
    ':content-type': { type: 'string' as const, value: 'application/json' },
    ':message-type': { type: 'string' as const, value: messageType },
  };
  return Buffer.from(
    codec.encode({ headers, body: Buffer.from(JSON.stringify(messageType === 'event' ? { ...payload, p: 'abcdefghijklmnopqrstuvwxyzABCDEF' } : payload)) }),
  );
}

/** `20150830T123600Z` as a Date. */
function fromAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]))) : undefined;
}

/**
 * Signs again what arrived, with the headers the request says it signed, using
 * AWS's SDK signer; undefined when both signatures agree. Host and x-amz-date
 * must be among the signed headers, as AWS requires.
 */
async function checkSignature(
  request: FakeExchange<BedrockFault>['request'],
  keys: Record<string, string>,
  region: string,
): Promise<{ name: string; message: string } | undefined> {
  const authorization = String(request.headers.authorization ?? '');
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
    authorization,
  );
  if (!match) return { name: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
  const [, keyId, , keyRegion, service, signedHeaders] = match;
  const secret = keys[keyId!];
  if (!secret) return { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  if (keyRegion !== region || service !== 'bedrock')
    return { name: 'InvalidSignatureException', message: `Credential should be scoped to a valid region and service: ${region}/bedrock.` };
  const names = signedHeaders!.split(';');
  const signingDate = fromAmzDate(String(request.headers['x-amz-date'] ?? ''));
  if (!names.includes('host') || !names.includes('x-amz-date') || !signingDate)
    return { name: 'IncompleteSignatureException', message: 'The request signature must include the host and x-amz-date headers.' };
  const headers: Record<string, string> = {};
  for (const name of names) headers[name] = String(request.headers[name] ?? '');
  const sessionToken = request.headers['x-amz-security-token'] === undefined ? undefined : String(request.headers['x-amz-security-token']);
  const signer = new SignatureV4({
    service: 'bedrock',
    region,
    credentials: { accessKeyId: keyId!, secretAccessKey: secret, sessionToken },
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  const host = headers.host!;
  const signed = await signer.sign(
    { method: request.method, protocol: 'http:', hostname: host.split(':')[0]!, path: request.path, query: {}, headers, body: request.raw },
    { signingDate },
  );
  const expected = String(signed.headers.authorization);
  if (expected !== authorization)
    return {
      name: 'InvalidSignatureException',
      message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  return undefined;
}

function validate(body: { messages?: { role: string; content: Block[] }[]; toolConfig?: unknown }): string | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return 'The messages field is required.';
  if (messages[0]!.role !== 'user') return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
  for (const [index, message] of messages.entries()) {
    if (index > 0 && messages[index - 1]!.role === message.role) return 'A conversation must alternate between user and assistant roles.';
    if (!Array.isArray(message.content) || message.content.length === 0) return `messages.${index}.content: The content field must not be empty.`;
    if (message.content.some((block) => block.toolUse || block.toolResult) && !body.toolConfig)
      return 'The toolConfig field must be defined when using toolUse and toolResult content blocks.';
    if (message.content.some((block) => block.text === '')) return `messages.${index}.content: The text field in the ContentBlock object is blank.`;
  }
  return undefined;
}

export async function startBedrockFake(options: { region: string; keys: Record<string, string> }): Promise<BedrockFake> {
  const fake = (await startFake<BedrockFault>((exchange) => handle(exchange))) as BedrockFake;
  fake.lastToolResult = undefined;
  fake.models = [];

  async function handle({ request, response, fault, reply }: FakeExchange<BedrockFault>): Promise<void> {
    const route = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(request.path);
    if (request.method !== 'POST' || !route) return sendError(response, 404, 'UnknownOperationException', 'Unknown operation');
    const denied = await checkSignature(request, options.keys, options.region);
    if (denied) return sendError(response, 403, denied.name, denied.message);
    const modelId = decodeURIComponent(route[1]!);
    fake.models.push(modelId);
    const body = (request.body ?? {}) as {
      messages?: { role: string; content: Block[] }[];
      toolConfig?: { tools: { toolSpec: { name: string } }[] };
      system?: { text: string }[];
    };
    const problem = validate(body);
    if (problem) return sendError(response, 400, 'ValidationException', problem);
    const planned = fault();
    if (isRawFault(planned)) return sendRaw(response, planned);
    if (planned && planned !== 'stream_throttled') return sendError(response, faults[planned].status, faults[planned].name, faults[planned].message);

    const last = body.messages!.at(-1)!.content;
    const toolResult = last.find((block) => block.toolResult)?.toolResult;
    if (toolResult) fake.lastToolResult = toolResult;
    const userText = last.map((block) => block.text ?? '').join('');
    const tool = body.toolConfig && !toolResult ? body.toolConfig.tools[0]!.toolSpec : undefined;
    const text = tool
      ? 'Calling a tool.'
      : toolResult
        ? `Bedrock got the tool result: ${JSON.stringify(toolResult.content)}`
        : `Bedrock here, answering: ${userText}`;
    const toolUse = tool ? { toolUseId: `tooluse_${randomUUID().slice(0, 8)}`, name: tool.name, input: { query: userText } } : undefined;
    const usage = {
      inputTokens: tokens(JSON.stringify(body.messages) + JSON.stringify(body.system ?? '')),
      outputTokens: pieces(text).length + (toolUse ? 4 : 0),
    };
    reply({ text, ...usage });
    const stopReason = toolUse ? 'tool_use' : 'end_turn';
    const requestId = randomUUID();

    if (route[2] === 'converse') {
      const content: Block[] = [{ text }, ...(toolUse ? [{ toolUse }] : [])];
      return sendJson(
        response,
        200,
        {
          output: { message: { role: 'assistant', content } },
          stopReason,
          usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens },
          metrics: { latencyMs: 42 },
        },
        { 'x-amzn-requestid': requestId },
      );
    }
    response.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': requestId });
    const frames = [frame('event', 'messageStart', { role: 'assistant' })];
    if (planned === 'stream_throttled') {
      frames.push(frame('exception', 'throttlingException', { message: 'Too many requests, please wait before trying again.' }));
    } else {
      for (const piece of pieces(text)) frames.push(frame('event', 'contentBlockDelta', { contentBlockIndex: 0, delta: { text: piece } }));
      frames.push(frame('event', 'contentBlockStop', { contentBlockIndex: 0 }));
      if (toolUse) {
        frames.push(frame('event', 'contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: toolUse.toolUseId, name: toolUse.name } } }));
        const json = JSON.stringify(toolUse.input);
        for (const part of [json.slice(0, 4), json.slice(4)])
          frames.push(frame('event', 'contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: part } } }));
        frames.push(frame('event', 'contentBlockStop', { contentBlockIndex: 1 }));
      }
      frames.push(frame('event', 'messageStop', { stopReason }));
      frames.push(frame('event', 'metadata', { usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens }, metrics: { latencyMs: 42 } }));
    }
    // The second frame arrives in two writes, cut inside its headers.
    response.write(Buffer.concat([frames[0]!, frames[1]!.subarray(0, 20)]));
    await new Promise((resolve) => setImmediate(resolve));
    response.write(frames[1]!.subarray(20));
    for (const rest of frames.slice(2)) response.write(rest);
    response.end();
  }

  return fake;
}
