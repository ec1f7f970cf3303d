// Runs the smoke in a dedicated module worker and posts the result (or the error) to the page.
import { runSmoke } from '../smoke.js';

runSmoke().then(
  (result) => postMessage(result),
  (error) => postMessage({ error: String(error?.stack ?? error) }),
);
