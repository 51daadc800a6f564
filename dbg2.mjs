import { readFileSync } from 'node:fs';
import * as fb from 'apache-arrow/fb/footer';
import { ByteBuffer } from 'flatbuffers';
import { Footer } from 'apache-arrow/ipc/metadata/file';
const bytes = Uint8Array.from(readFileSync('/tmp/fuzz-base.arrow'));
for (const [at, v] of JSON.parse(readFileSync('/tmp/fuzz-last.json'))) bytes[at] = v;
const size = bytes.length; const dv = new DataView(bytes.buffer);
const len = dv.getInt32(size - 10, true); const start = size - 10 - len;
console.log('footer', start, len);
const f = fb.Footer.getRootAsFooter(new ByteBuffer(bytes.subarray(start, start + len)));
console.log('batches', f.recordBatchesLength(), 'dicts', f.dictionariesLength(), 'fields', f.schema()?.fieldsLength());
const s = f.schema(); for (let i = 0; i < s.fieldsLength(); i++) { const fl = s.fields(i); console.log(i, fl.name(), fl.typeType(), fl.childrenLength(), fl.customMetadataLength?.(), fl.dictionary() ? 'dict' : ''); }
console.log('schema metadata', s.customMetadataLength(), 'features', s.featuresLength?.());
