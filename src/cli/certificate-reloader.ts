import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../observability/logger.ts';
import { describeCertificate, readTlsIdentity, type TlsConfig } from '../server/tls-identity.ts';
import { watchConfigFile, type ConfigWatcher } from './config-watcher.ts';

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
  private watchers: ConfigWatcher[] = [];
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
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  // Each file by its content, through its folder (renewal tools replace files by rename, Kubernetes swaps a symlink).
  private watch(): void {
    const onError = (error: Error) => this.logger.warn({ error: error.message }, 'cannot watch the certificate files; reload them with SIGHUP');
    this.watchers = [...new Set([this.tls.cert, this.tls.key])].map((file) =>
      watchConfigFile(file, () => this.reload('certificate file changed'), { onError }),
    );
  }
}
