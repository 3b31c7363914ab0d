// Mesos RecordIO: "<length in bytes>\n<that many bytes of JSON>", repeated.

const NEWLINE = 10;
const MAX_HEADER = 20;

/** Splits a byte stream into records, whatever the chunk boundaries. */
export class RecordIOReader {
  constructor() {
    this.chunks = [];
    this.size = 0;
    this.need = null;
    this.decoder = new TextDecoder();
  }

  /** Add bytes; returns the records (strings) they complete. */
  push(chunk) {
    const records = [];
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.need === null) {
        const bytes = this.flatten();
        const newline = bytes.indexOf(NEWLINE);
        if (newline < 0) {
          if (bytes.length > MAX_HEADER) throw new Error("RecordIO: a record length is too long");
          return records;
        }
        const header = this.decoder.decode(bytes.subarray(0, newline));
        if (!/^[0-9]+$/.test(header)) throw new Error(`RecordIO: bad record length '${header}'`);
        this.need = Number(header);
        this.keep(bytes.subarray(newline + 1));
      }
      if (this.size < this.need) return records;
      const bytes = this.flatten();
      records.push(this.decoder.decode(bytes.subarray(0, this.need)));
      this.keep(bytes.subarray(this.need));
      this.need = null;
    }
  }

  flatten() {
    if (this.chunks.length === 1) return this.chunks[0];
    const all = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    this.chunks = [all];
    return all;
  }

  keep(rest) {
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
  }
}
