// Types of scripts/generate-abi.mjs for the test that checks its output (test/runtime/abi.test.ts).
export interface DescriptorField { name: string; type: string; doc: string[]; offset: number }
export interface Descriptor { name: string; doc: string[]; fields: DescriptorField[]; bytes: number }
export interface KernelExport { name: string; params: { name: string; type: string }[]; result: string; doc: string[]; file: string }
export function readDescriptors(dir?: string): Descriptor[];
export function readExports(dir?: string): KernelExport[];
export function generated(dir?: string): Record<string, string>;
