import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../observability/logger.ts';
import { describeCertificate, readTlsIdentity, type TlsConfig } from '../server/tls-identity.ts';

// `server.tls`'s files read again on SIGHUP and when they change, and swapped
// into the listening server with setSecureContext: new handshakes get the new
// certificate, open connections keep theirs, and the port never closes. A pair
// that cannot be used (half-written, mismatched) is refused and the old one serves on.

interface SecureServer {
  setSecureContext(options: SecureContextOptions): void;
}

export class CertificateReloader {
  private tls: TlsConfig;
  private loaded: { cert: Buffer; key: Buffer };
  private watchers: FSWatcher[] = [];
  private pending: NodeJS.Timeout | undefined;
  private readonly server: SecureServer;
  private readonly logger: Logger;

  constructor(server: SecureServer, tls: TlsConfig, logger: Logger) {
    this.server = server;
    this.tls = tls;
    this.logger = logger;
    // Set again, not assumed: the files may have changed since the server read them.
    const identity = readTlsIdentity(tls);
    server.setSecureContext(identity.options);
    this.loaded = identity.options;
    logger.info({ ...describeCertificate(identity.certificate), min_version: tls.min_version }, 'TLS certificate loaded');
    this.watch();
  }

  /** Reads the files again; a SIGHUP always says what it found, a file change only when the pair changed. */
  reload(reason: string): void {
    try {
      const identity = readTlsIdentity(this.tls);
      const changed = !identity.options.cert.equals(this.loaded.cert) || !identity.options.key.equals(this.loaded.key);
      if (!changed && reason !== 'SIGHUP') return;
      if (changed) this.server.setSecureContext(identity.options);
      this.loaded = identity.options;
      this.logger.info({ reason, changed, ...describeCertificate(identity.certificate) }, 'TLS certificate reloaded');
    } catch (error) {
      this.logger.error({ reason, problem: (error as Error).message }, 'TLS certificate reload refused; the previous certificate keeps serving');
    }
  }

  /** After a config reload: the files may have moved (a change of min_version needs a restart). */
  retarget(tls: TlsConfig): void {
    if (tls.cert === this.tls.cert && tls.key === this.tls.key) return;
    this.tls = tls;
    this.close();
    this.watch();
    this.reload('config reloaded');
  }

  close(): void {
    clearTimeout(this.pending);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  // The folders, not the files: renewal tools replace files by rename, and
  // Kubernetes swaps a `..data` symlink beside them; a watch on the old file would go deaf.
  private watch(): void {
    const names = new Set([basename(this.tls.cert), basename(this.tls.key)]);
    for (const folder of new Set([dirname(this.tls.cert), dirname(this.tls.key)])) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, name) => {
          if (name !== null && !names.has(name) && !name.startsWith('..')) return;
          clearTimeout(this.pending);
          this.pending = setTimeout(() => this.reload('certificate file changed'), 200);
        });
        watcher.on('error', () => watcher.close());
        this.watchers.push(watcher);
      } catch (error) {
        this.logger.warn({ folder, error: (error as Error).message }, 'cannot watch the certificate files; reload them with SIGHUP');
      }
    }
  }
}
