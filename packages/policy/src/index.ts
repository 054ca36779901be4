export { canonicalJson, canonicalDigest, sha256Hex } from './canonical-json.js';
