import { CodedError } from '../errors.js';

/**
 * A policy, bundle or data file that cannot serve: too large, or a bundle OPA would refuse, or a
 * load that did not finish. The code is stable; the message names the flag or the bundle and the fault.
 */
export class PolicyFileError extends CodedError<'too_large' | 'bundle' | 'load_timeout' | 'load_failed'> {}
