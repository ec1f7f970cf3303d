// Generates the TypeScript side of the wasm ABI from the AssemblyScript sources, its one definition:
//   assembly/descriptors.ts  → src/runtime/descriptors.ts  (field offsets and a writer per descriptor)
//   assembly/index.ts        → src/runtime/abi.ts          (the typing of every export, with its doc comment)
// `node scripts/generate-abi.mjs` writes both files; `--check` writes nothing and exits 1 when either is stale
// (test/runtime/abi.test.ts runs the same check, and counts every export's parameters).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIELD_TYPES = { i32: 'Int32', u32: 'Uint32', usize: 'Uint32', f32: 'Float32' };
const NUMBER_TYPES = new Set(['i32', 'u32', 'usize', 'f32', 'f64', 'bool', 'i64', 'u8']);

/** The doc comment that ends right before `end` in `text` (its lines, without the stars), or []. */
function docBefore(text, end) {
  const before = text.slice(0, end).trimEnd();
  if (!before.endsWith('*/')) return [];
  const start = before.lastIndexOf('/**');
  if (start < 0) return [];
  return before.slice(start + 3, -2).split('\n').map((line) => line.replace(/^\s*\*? ?/, '').trimEnd()).filter((l, i, all) => l || (i > 0 && i < all.length - 1));
}

/** Every `@unmanaged export class` of assembly/descriptors.ts: name, doc, and fields (name, type, doc, byte offset). */
export function readDescriptors(dir = root) {
  const text = readFileSync(join(dir, 'assembly/descriptors.ts'), 'utf8');
  const classes = [];
  for (const match of text.matchAll(/@unmanaged export class (\w+) \{([^}]*)\}/g)) {
    const bodyStart = match.index + match[0].indexOf('{') + 1;
    const fields = [];
    for (const f of match[2].matchAll(/(\w+): (\w+);/g)) {
      if (!FIELD_TYPES[f[2]]) throw new Error(`${match[1]}.${f[1]}: ${f[2]} is not a 4-byte field type (${Object.keys(FIELD_TYPES)})`);
      fields.push({ name: f[1], type: f[2], doc: docBefore(text, bodyStart + f.index), offset: 4 * fields.length });
    }
    classes.push({ name: match[1], doc: docBefore(text, match.index), fields, bytes: 4 * fields.length });
  }
  return classes;
}

/** Every `export const NAME: i32 = n;` of assembly/descriptors.ts: the named values of descriptor fields. */
export function readConstants(dir = root) {
  const text = readFileSync(join(dir, 'assembly/descriptors.ts'), 'utf8');
  return [...text.matchAll(/export const (\w+): i32 = (-?\d+);/g)].map((m) => ({ name: m[1], value: Number(m[2]), doc: docBefore(text, m.index) }));
}

/** Top-level comma split of a parameter list (no nested generics appear in kernel signatures). */
function splitParams(list, descriptors) {
  return list.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const [name, type] = p.split(':').map((s) => s.trim());
    if (!NUMBER_TYPES.has(type) && !descriptors.has(type)) throw new Error(`parameter ${name}: type ${type} cannot cross the wasm boundary`);
    return { name, type };
  });
}

/** The declaration of `export function name(…): type` in `text`: parameters, result type and doc comment. */
function findFunction(text, name, file, descriptors) {
  const match = new RegExp(`export function ${name}\\(([^)]*)\\)\\s*:\\s*(\\w+)`).exec(text);
  if (!match) throw new Error(`${file}: no export function ${name}`);
  return { name, params: splitParams(match[1], descriptors), result: match[2], doc: docBefore(text, match.index), file };
}

/**
 * Every export of assembly/index.ts, in order, resolved to its declaration. A parameter is a number or a pointer to
 * a descriptor (its type is the descriptor's class).
 */
export function readExports(dir = root) {
  const descriptors = new Set(readDescriptors(dir).map((c) => c.name));
  const indexFile = 'assembly/index.ts';
  const index = readFileSync(join(dir, indexFile), 'utf8');
  const found = [];
  for (const match of index.matchAll(/export \{([^}]*)\} from '([^']+)';|export function (\w+)\(/g)) {
    if (match[3]) {
      found.push(findFunction(index, match[3], indexFile, descriptors));
      continue;
    }
    const file = join('assembly', `${match[2].replace(/^\.\//, '')}.ts`);
    const text = readFileSync(join(dir, file), 'utf8');
    for (const name of match[1].split(',').map((s) => s.trim()).filter(Boolean)) found.push(findFunction(text, name, file, descriptors));
  }
  return found;
}

function comment(lines, indent) {
  if (!lines.length) return [];
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
  return [`${indent}/**`, ...lines.map((l) => `${indent} *${l ? ' ' + l : ''}`), `${indent} */`];
}

function lowerCamel(name) {
  return name.replace(/^[A-Z]+(?=[A-Z][a-z]|$)|^[A-Z]/, (s) => s.toLowerCase());
}

function constantName(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function renderDescriptors(classes, constants = []) {
  const out = [
    '// Generated by scripts/generate-abi.mjs from assembly/descriptors.ts: do not edit (npm run generate). The fields',
    '// and their meaning are documented there. A layout lists a descriptor\'s fields in order (field n at byte 4·n); each',
    '// writer fills one descriptor at byte address `at` of a view over the wasm memory, a pointer left out as 0.',
    '',
    "type FieldType = 'i32' | 'u32' | 'usize' | 'f32';",
    'type Layout = readonly (readonly [name: string, type: FieldType])[];',
    '/** The fields of a layout: pointers (usize) may be left out, numbers may not. */',
    'type Fields<L extends Layout> = { [F in L[number] as F[1] extends \'usize\' ? F[0] : never]?: number } &',
    '  { [F in L[number] as F[1] extends \'usize\' ? never : F[0]]: number };',
    '',
    '/** The byte offset of field `name` in a descriptor of this layout. */',
    'export function fieldOffset<L extends Layout>(layout: L, name: L[number][0]): number {',
    '  return 4 * layout.findIndex(([field]) => field === name);',
    '}',
    '',
    'function writeFields<L extends Layout>(view: DataView, at: number, layout: L, fields: Fields<L>): void {',
    '  const values = fields as Record<string, number | undefined>;',
    '  for (let i = 0; i < layout.length; i++) {',
    '    const [name, type] = layout[i];',
    '    const value = values[name] ?? 0;',
    "    if (type === 'f32') view.setFloat32(at + 4 * i, value, true);",
    "    else if (type === 'i32') view.setInt32(at + 4 * i, value, true);",
    '    else view.setUint32(at + 4 * i, value, true);',
    '  }',
    '}',
  ];
  if (constants.length) {
    out.push('', '// Named values of descriptor fields (Gemm.op …).');
    out.push(`export const [${constants.map((k) => k.name).join(', ')}] = [${constants.map((k) => k.value).join(', ')}] as const;`);
  }
  const name = (c) => constantName(c.name);
  out.push('', '// The layouts, one a descriptor (the sizes in bytes are 4 a field).');
  for (const c of classes) out.push(`export const ${name(c)}_LAYOUT = [${c.fields.map((f) => `['${f.name}', '${f.type}']`).join(', ')}] as const;`);
  out.push('', '// Their fields, as the writers take them.');
  for (const c of classes) out.push(`export type ${c.name}Fields = Fields<typeof ${name(c)}_LAYOUT>;`);
  out.push('', '// Bytes of each descriptor.');
  out.push(`export const [${classes.map((c) => `${name(c)}_BYTES`).join(', ')}] = [${classes.map((c) => c.bytes).join(', ')}];`);
  out.push('', '// The writers.');
  for (const c of classes) {
    out.push(`export const write${c.name} = (view: DataView, at: number, fields: ${c.name}Fields): void => writeFields(view, at, ${name(c)}_LAYOUT, fields);`);
  }
  return out.join('\n') + '\n';
}

export function renderAbi(exports) {
  const out = [
    '// Generated by scripts/generate-abi.mjs from assembly/index.ts and the files it re-exports: do not edit',
    '// (npm run generate). Pointers are byte addresses in linear memory; a descriptor pointer (fm, pass, ws, …)',
    '// addresses a struct of assembly/descriptors.ts, written with src/runtime/descriptors.ts.',
    "import type { WasmMemory } from './platform-types.ts';",
    '',
    '/** The address of a descriptor of the named class (a number: the brand only documents what it points to). */',
    "export type Pointer<Descriptor extends string> = number & { readonly descriptor?: Descriptor };",
    '',
    'export interface KernelExports {',
    '  readonly memory: WasmMemory;',
  ];
  for (const e of exports) {
    const params = e.params.map((p) => `${p.name}: ${NUMBER_TYPES.has(p.type) ? 'number' : `Pointer<'${p.type}'>`}`).join(', ');
    out.push(...comment([...e.doc, `Source: ${e.file}.`], '  '));
    out.push(`  ${e.name}(${params}): ${e.result === 'void' ? 'void' : 'number'};`);
  }
  out.push('}', '', '/** The name of every kernel export. */', 'export type KernelName = Exclude<keyof KernelExports, \'memory\'>;');
  return out.join('\n') + '\n';
}

export function generated(dir = root) {
  return {
    'src/runtime/descriptors.ts': renderDescriptors(readDescriptors(dir), readConstants(dir)),
    'src/runtime/abi.ts': renderAbi(readExports(dir)),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of Object.entries(generated())) {
    let current = '';
    try { current = readFileSync(join(root, file), 'utf8'); } catch { /* missing: stale */ }
    if (current === text) continue;
    stale++;
    if (check) console.error(`${file} is stale: run npm run generate`);
    else writeFileSync(join(root, file), text);
  }
  if (check && stale) process.exit(1);
  if (!check) console.log(`generate-abi: ${stale ? `wrote ${stale} file(s)` : 'up to date'}`);
}
