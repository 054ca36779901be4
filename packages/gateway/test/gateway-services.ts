import { openLedgerServices } from '@tollgate/ledger';
import type { GatewayConfig } from '../src/config/gateway-config.js';
import { ledgerServiceOptions, type GatewayDependencies } from '../src/gateway.js';

/**
 * The services a test gateway runs on, opened from its configuration exactly as the CLI's
 * composition root (`tollgate gateway`) opens them: the ledger, its limit and approval stores.
 */
export function configuredServices(config: GatewayConfig): GatewayDependencies['services'] {
  return ({ metrics, logger }) => openLedgerServices(ledgerServiceOptions(config, metrics, logger));
}
