// What a stream has told the client so far, kept only when the route may
// resume it elsewhere: the assistant text, and whether a tool call or a finish
// was seen (a stream is never resumed inside a tool call or after its end).

export class Transcript {
  text = '';
  toolCalls = false;
  finished = false;

  /** One OpenAI chunk's JSON. */
  observe(json: string): void {
    let chunk: { choices?: { delta?: { content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[] };
    try {
      chunk = JSON.parse(json) as typeof chunk;
    } catch {
      return;
    }
    const choice = chunk.choices?.[0];
    if (!choice) return;
    if (typeof choice.delta?.content === 'string') this.text += choice.delta.content;
    if (choice.delta?.tool_calls !== undefined) this.toolCalls = true;
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) this.finished = true;
  }

  get resumable(): boolean {
    return !this.toolCalls && !this.finished && this.text.length > 0;
  }
}
