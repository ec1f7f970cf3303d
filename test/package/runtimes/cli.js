// Deno and Bun entry: runs the smoke and prints its result as one line of JSON.
import { runSmoke } from './smoke.js';

console.log(JSON.stringify(await runSmoke()));
