import { dynamicMode } from './dynamic.js';
import { forwardAuthDynamicMode, forwardAuthOpenShiftMode, forwardAuthStaticMode } from './forward-auth.js';
import { openshiftMode } from './openshift.js';
import { staticMode } from './static.js';
import type { DemoMode } from './types.js';

/**
 * Every mode the demo can start. The extension point: a new mode (the forward-auth ones) is a module
 * exporting a DemoMode, added here; the command line, --help and test/demo.test.ts pick it up.
 */
export const DEMO_MODES: readonly DemoMode[] = [
  staticMode,
  dynamicMode,
  openshiftMode,
  forwardAuthStaticMode,
  forwardAuthDynamicMode,
  forwardAuthOpenShiftMode,
];
