import { getHeapStatistics } from 'node:v8';
import { isMainThread, resourceLimits } from 'node:worker_threads';
import { PolicyFileError } from './file-error.js';

/**
 * Data files are parsed on the loading thread, whose heap is bounded (load-runner.ts) so that a
 * file too large for it ends that thread, not the service. That bound is best-effort: when the
 * heap reaches it, Node gives the thread 16 MiB more and asks it to stop, but JSON.parse does not
 * stop mid-parse, and an allocation past that allowance (on Node 24, the final backing store of a
 * 4-million-element array) aborts the whole process (nodejs/node#47224). So a parse is started only
 * when an upper estimate of the heap it builds fits well inside the room the thread has left.
 */

// Measured with v8.getHeapStatistics() around JSON.parse on Node 20.20 and 24.22 (64-bit, no pointer
// compression; both alike): a value's slot in its parent 8 bytes, an object 56 with its in-object
// slack, an array 48, a string 24 plus its characters, a heap number 16. A key already seen shares
// its string and hidden class; a new one costs its string and a hidden class transition (a file of
// objects each with its own key measured 184 bytes per object).
const SLOT = 8;
const OBJECT = 56;
const ARRAY = 48;
const STRING = 24;
const NUMBER = 16;
const NEW_KEY = 150;
/** Keys remembered as seen; past this the set restarts (the estimate only grows, never shrinks). */
const KEYS_REMEMBERED = 4096;
/**
 * The yaml package builds a syntax tree and a document before the value, all of it garbage once
 * parsed: about 700-1000 bytes per node in flight (measured as above), counted per structure character.
 */
const YAML_NODE = 1100;
/** The share of the thread's free heap a parse may be estimated to take: the rest covers the estimate's error and the load's later copies. */
const SHARE = 0.6;

/** An upper estimate of the heap JSON.parse builds for `text`, in one pass with bounded memory. */
export function jsonHeapEstimate(text: string): number {
  let bytes = text.length; // the text itself stays live while it is parsed
  let seen = new Set<string>();
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: a key when a colon follows it, else a value.
      let j = i + 1;
      let wide = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) j += 2;
        else if (d === 0x22) break;
        else {
          if (d > 0x7f) wide = true;
          j++;
        }
      }
      const len = (j - i - 1) * (wide ? 2 : 1);
      let k = j + 1;
      while (k < n && (text.charCodeAt(k) === 0x20 || text.charCodeAt(k) === 0x0a || text.charCodeAt(k) === 0x0d || text.charCodeAt(k) === 0x09)) k++;
      if (k < n && text.charCodeAt(k) === 0x3a) {
        const key = len <= 64 ? text.slice(i + 1, j) : undefined;
        if (key === undefined || !seen.has(key)) {
          bytes += NEW_KEY + STRING + len;
          if (key !== undefined) {
            if (seen.size >= KEYS_REMEMBERED) seen = new Set();
            seen.add(key);
          }
        }
      } else bytes += SLOT + STRING + len;
      i = j + 1;
      continue;
    }
    if (c === 0x7b) bytes += SLOT + OBJECT;
    else if (c === 0x5b) bytes += SLOT + ARRAY;
    else if (c === 0x3a)
      bytes += SLOT; // the property's slot; its value's own cost is counted at the value
    else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      bytes += SLOT + NUMBER;
      while (i + 1 < n && /[0-9eE.+-]/.test(text[i + 1]!)) i++;
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) bytes += SLOT; // true, false, null
    i++;
  }
  return bytes;
}

/** An upper estimate of the heap the yaml package needs to parse `text`. */
export function yamlHeapEstimate(text: string): number {
  let nodes = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // - ? : , [ { and line breaks introduce nodes (as server/http/yaml-input.ts counts them).
    if (c === 0x2d || c === 0x3f || c === 0x3a || c === 0x2c || c === 0x5b || c === 0x7b || c === 0x0a) nodes++;
  }
  return 4 * text.length + YAML_NODE * nodes;
}

/**
 * Throws when parsing `text` (JSON, or YAML when `yaml`) is estimated to need more than its share of
 * the heap this thread has left. The message names the loading thread's bound as load-runner.ts
 * sets it, the bound the flag sizes.
 */
export function assertParseFits(path: string, text: string, yaml: boolean): void {
  const need = yaml ? yamlHeapEstimate(text) : jsonHeapEstimate(text);
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  if (need <= (limit - used) * SHARE) return;
  const boundMb = !isMainThread && resourceLimits.maxOldGenerationSizeMb ? resourceLimits.maxOldGenerationSizeMb : Math.round(limit / (1 << 20));
  throw new PolicyFileError(
    'too_large',
    `${path}: parsing it needs about ${Math.ceil(need / (1 << 20))} MiB of heap: it needs more than the ${boundMb} MiB heap a load may use (raise --policy.max-data-bytes only with the memory to hold it)`,
  );
}
