/**
 * The gateway benchmark's floor: `tollgate gateway` as the CLI runs it (same configuration,
 * pipeline, policy, HTTP listener and stdio upstream), but with a sink that records nothing and
 * resolves at once, and limits in memory. What it adds over the upstream is the gateway's own
 * cost without the ledger. Plain JavaScript, so that no loader runs beside the gateway.
 *
 *   node bench/gateway/noop-gateway.mjs <config.json>
 */
import { loadGatewayConfig, startGateway } from '../../packages/gateway/dist/index.js';
import { MemoryLimitStore } from '../../packages/policy/dist/index.js';

const config = await loadGatewayConfig(process.argv[2]);
const gateway = await startGateway(config, {
  services: {
    sink: { append: () => Promise.resolve(), close: () => Promise.resolve() },
    limits: new MemoryLimitStore(),
  },
});
process.once('SIGTERM', () => void gateway.shutdown('SIGTERM'));
await gateway.closed;
process.exit(0);
