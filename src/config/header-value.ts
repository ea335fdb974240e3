// Text that comes from outside (a client's `model`, a name in the config) is
// made safe before it becomes a response header: Node throws on characters a
// header may not hold (anything outside printable ASCII), and a header is no
// place for a megabyte. Printable ASCII up to the bound passes as it is;
// anything else is percent-encoded (decodeURIComponent gives it back), and
// whatever is over the bound is cut at a whole escape.

const maxLength = 256;

export function headerValue(text: string): string {
  if (text.length <= maxLength && isPrintableAscii(text)) return text;
  const encoded = isPrintableAscii(text) ? text : encodeURIComponent(text.length > maxLength ? text.slice(0, maxLength) : text);
  if (encoded.length <= maxLength) return encoded;
  let end = maxLength;
  // Never end inside "%XX".
  const escape = encoded.lastIndexOf('%', end - 1);
  if (escape !== -1 && escape > end - 3) end = escape;
  return encoded.slice(0, end);
}

function isPrintableAscii(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code > 0x7e) return false;
  }
  return true;
}
