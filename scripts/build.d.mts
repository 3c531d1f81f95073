/** Types of scripts/build.mjs (the script stays plain JavaScript so `node` runs it directly). */

/** Exists only while dist/ is the output of a build that succeeded. */
export declare const BUILD_STAMP: string;

/** Entry files of worker threads (loaded by URL), copied into dist/ as they are. */
export declare const WORKER_FILES: readonly string[];

/** Compiles the server into dist/, copies static and worker files, bundles the browser runtime. */
export declare function build(options?: { quiet?: boolean; diagnosticsToStderr?: boolean; clean?: boolean }): Promise<void>;
