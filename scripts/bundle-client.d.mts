/** Types of scripts/bundle-client.mjs (the script stays plain JavaScript so `node` runs it directly). */

/** Gzipped size budget of the browser runtime bundle, in bytes (8 KB). */
export declare const GZIP_BUDGET: number;

export interface BundleResult {
  /** Absolute path of the written bundle. */
  outfile: string;
  /** Size of the minified bundle in bytes. */
  bytes: number;
  /** Its size gzipped (level 9) in bytes. */
  gzipBytes: number;
}

/**
 * Bundles client/index.ts into one minified ESM file (esbuild, es2020, browser) and writes it.
 * @example const { gzipBytes } = await bundleClient();
 */
export declare function bundleClient(options?: {
  /** @default <project root>/dist/client/livecomponents.js */
  outfile?: string;
}): Promise<BundleResult>;
