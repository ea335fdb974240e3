// Client text (a model, a route, an id) quoted back in an error message: the
// message says what was asked for, but a megabyte id must not come back as a
// megabyte answer (or line of log), so it is cut with a mark that says so.

const maxEchoed = 200;

export function echoed(text: string): string {
  return text.length > maxEchoed ? `${text.slice(0, maxEchoed)}…` : text;
}
