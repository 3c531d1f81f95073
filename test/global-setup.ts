/** Builds the browser runtime once before the suite: the plugin serves `dist/client/livecomponents.js`. */
import { bundleClient } from '../scripts/bundle-client.mjs';

export default async function setup(): Promise<void> {
  await bundleClient();
}
