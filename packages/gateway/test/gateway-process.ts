// Runs one gateway from a configuration file, as `tollgate gateway --config` does: used by the
// tests to get a real gateway process (stdio or HTTP). Usage: node --import tsx gateway-process.ts <config>
import { loadGatewayConfig, startGateway } from '../src/index.js';
import { configuredServices } from './gateway-services.js';

const config = await loadGatewayConfig(process.argv[2]!);
const gateway = await startGateway(config, { services: configuredServices(config) });
process.once('SIGTERM', () => void gateway.shutdown('SIGTERM'));
process.once('SIGINT', () => void gateway.shutdown('SIGINT'));
await gateway.closed;
process.exit(0);
