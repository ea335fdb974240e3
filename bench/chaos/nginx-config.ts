import { nginxPrelude } from '../targets.ts';

// nginx in front of the replicas, configured as an operator would for an
// OpenAI-compatible API: round-robin over the replicas; a replica that
// refuses a connection or times out is passed over for the next one
// (`proxy_next_upstream error timeout`, nginx's own default, which for a POST
// applies only while the request has not been sent: nginx never sends a
// non-idempotent request twice unless told `non_idempotent`), and is left
// out for `fail_timeout` after `max_fails`; HTTP/1.1 with a pool of
// keep-alive connections to the replicas; no buffering, so SSE events reach
// the client as they come. Two response headers say which replicas nginx
// tried, so the drill can tell which replica served or failed a request.

export function nginxConfig(options: { prefix: string; port: number; replicaPorts: number[] }): string {
  const { prefix, port, replicaPorts } = options;
  return `${nginxPrelude(prefix)}  upstream switchyard {
${replicaPorts.map((replica) => `    server 127.0.0.1:${replica} max_fails=1 fail_timeout=10s;`).join('\n')}
    keepalive 64;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location = /nginx-ready { return 204; }
    location / {
      proxy_pass http://switchyard;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_request_buffering on;
      proxy_connect_timeout 2s;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      add_header X-Chaos-Upstream $upstream_addr always;
      add_header X-Chaos-Upstream-Status $upstream_status always;
    }
  }
}
`;
}
