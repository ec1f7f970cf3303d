// The same workload in Node, from the installed package: the reference that every bundle must match.
import 'performer-wasm/threads';

export { runWorkload } from './workload.js';
