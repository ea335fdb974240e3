import { keyDigest } from '../config/key-digest.ts';

// `switchyard hash-key`: the SHA-256 of a gateway key, for `auth.keys[].key_sha256`.
// The key comes from standard input, never from an argument (which would sit in
// the shell's history and in `ps`), and a terminal does not echo it.

const minimumLength = 8;

/** Reads one line from a terminal with echo off (raw mode), the way `passwd` does. */
function readHidden(input: NodeJS.ReadStream, prompt: NodeJS.WriteStream): Promise<string | undefined> {
  return new Promise((resolve) => {
    let typed = '';
    prompt.write('key (not shown): ');
    input.setRawMode(true);
    input.setEncoding('utf8');
    const finish = (value: string | undefined) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      prompt.write('\n');
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish(typed);
        if (character === '\u0003' || character === '\u0004') return finish(undefined); // Ctrl-C, Ctrl-D
        if (character === '\u007f' || character === '\b') typed = typed.slice(0, -1);
        else typed += character;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

async function readPiped(input: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Prints the digest and returns the exit code: 0, or 1 when the input holds no usable key. */
export async function hashKeyCommand(input: NodeJS.ReadStream = process.stdin): Promise<number> {
  const text = input.isTTY ? await readHidden(input, process.stderr) : await readPiped(input);
  // The gateway trims the key it is sent, so a key with outer spaces could never match: trim here too.
  const lines = (text ?? '').trim().split(/\r?\n/);
  const key = lines[0]!.trim();
  if (lines.length > 1) {
    process.stderr.write('switchyard hash-key: give one key, on one line\n');
    return 1;
  }
  if (key.length < minimumLength) {
    process.stderr.write(
      `switchyard hash-key: ${key.length === 0 ? 'no key on standard input' : `a key must be at least ${minimumLength} characters`} (usage: printf %s "$KEY" | switchyard hash-key)\n`,
    );
    return 1;
  }
  process.stdout.write(`${keyDigest(key)}\n`);
  return 0;
}
