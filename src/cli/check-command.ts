import { ConfigError, loadConfigFile } from '../config/load-config.ts';
import { readTlsIdentity, TlsIdentityError } from '../server/tls-identity.ts';

/** `switchyard check --config FILE`: every error with its path, exit 1 on any. */
export async function checkCommand(file: string | undefined): Promise<number> {
  if (!file) {
    process.stderr.write('switchyard check: --config FILE is required\n');
    return 2;
  }
  try {
    const config = await loadConfigFile(file);
    // The certificate files are read now, as serve would, so a missing or mismatched pair is found before a restart.
    if (config.server.tls) readTlsIdentity(config.server.tls);
    const providers = Object.keys(config.providers).length;
    const routes = Object.keys(config.routes).length;
    process.stdout.write(`${file}: OK (${providers} provider${providers === 1 ? '' : 's'}, ${routes} route${routes === 1 ? '' : 's'})\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError) && !(error instanceof TlsIdentityError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
}
