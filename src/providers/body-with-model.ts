import type { AdapterContext } from './provider-spec.ts';

// A request body passed through with only its model replaced: the target's
// name for the model is written over the client's, in place, and the rest of
// the bytes go as they came.

/** Target model names as JSON bytes: they come from the config, so there are few of them. */
const modelBytes = new Map<string, Buffer>();

function modelAsJson(model: string): Buffer {
  let bytes = modelBytes.get(model);
  if (bytes === undefined) {
    if (modelBytes.size > 10_000) modelBytes.clear();
    bytes = Buffer.from(JSON.stringify(model));
    modelBytes.set(model, bytes);
  }
  return bytes;
}

/** The client's bytes with only the model value replaced: no re-serialisation of the rest. */
export function bodyWithModel(context: AdapterContext): Buffer {
  const { raw, modelRange, body } = context.request;
  if (body.model === context.model) return raw;
  if (!modelRange) return Buffer.from(JSON.stringify({ ...body, model: context.model }));
  const model = modelAsJson(context.model);
  const start = modelRange[0];
  const out = Buffer.allocUnsafe(raw.length - (modelRange[1] - start) + model.length);
  raw.copy(out, 0, 0, start);
  model.copy(out, start);
  raw.copy(out, start + model.length, modelRange[1]);
  return out;
}
