import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The lokistack policy compiled into the repository's wasm/, served when --policy.wasm is empty. */
export const BUNDLED_WASM = fileURLToPath(new URL('../../wasm/lokistack.wasm', import.meta.url));

// Compiled to dist/server/config, the bundled policy is one level further up.
export const bundledWasm = (): string => (existsSync(BUNDLED_WASM) ? BUNDLED_WASM : fileURLToPath(new URL('../../../wasm/lokistack.wasm', import.meta.url)));
