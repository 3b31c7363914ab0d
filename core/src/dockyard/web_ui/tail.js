// Following a sandbox file as a task writes it, by offset: only its end is ever read, so a
// 100 MB file costs no more than a small one. The logrotate logger renames a full `stdout`
// to `stdout.1` (shifting `stdout.1` to `stdout.2`...) and starts a new `stdout`. Each look
// lists the folder once: when `stdout.1` is not the file it was, the old `stdout.1` is
// found again by its size and mtime further down, which says how many rotations happened;
// the rest of the file being read and the files rotated since are read before the new one.

import { getJSON } from "./api.js";

export const FIRST_BYTES = 64 * 1024;
export const CATCH_UP_BYTES = 1024 * 1024;
export const SHOWN_CHARACTERS = 512 * 1024;
const INTERVAL_MS = 1000;
const encoder = new TextEncoder();

function parentOf(path) {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** Bytes that a /files/read answer covered (its text had invalid UTF-8 replaced). */
function bytesOf(data, asked) {
  return data.includes("\uFFFD") ? asked : encoder.encode(data).length;
}

function signatureOf(rotated) {
  const newest = rotated.get(1);
  return newest ? newest.signature : null;
}

export class Tail {
  /** `output` gets text to append, `notice` a remark on what was skipped or rotated. */
  constructor(path, { output, notice, error }) {
    this.path = path;
    this.output = output;
    this.notice = notice;
    this.error = error;
    this.position = 0;
    this.newest = null;
    this.timer = null;
    this.stopped = false;
    this.following = false;
  }

  async read(path, offset, length) {
    const answer = await getJSON("/files/read", { path, offset, length });
    return answer.data;
  }

  /** The file's size, and its rotated files (`<path>.<n>` -> {size, signature}). */
  async look() {
    const entries = await getJSON("/files/browse", { path: parentOf(this.path) });
    let size = null;
    const rotated = new Map();
    for (const entry of entries) {
      if (entry.path === this.path) size = entry.size;
      const suffix = entry.path.startsWith(`${this.path}.`) ? entry.path.slice(this.path.length + 1) : "";
      if (/^[1-9][0-9]{0,5}$/.test(suffix)) {
        rotated.set(Number(suffix), { size: entry.size, signature: `${entry.size}:${entry.mtime}` });
      }
    }
    return { size, rotated };
  }

  /** Show the file's last bytes, then follow it if asked. */
  async start(follow) {
    const { size, rotated } = await this.look();
    if (size === null) throw new Error(`'${this.path}' does not exist`);
    this.newest = signatureOf(rotated);
    const from = Math.max(0, size - FIRST_BYTES);
    if (from > 0) this.notice(`… showing the last ${FIRST_BYTES / 1024} KiB of ${size} bytes`);
    await this.copy(this.path, from, size);
    this.setFollow(follow);
  }

  setFollow(follow) {
    this.following = follow;
    if (follow && !this.timer && !this.stopped) this.schedule();
  }

  schedule() {
    this.timer = setTimeout(() => this.tick(), INTERVAL_MS);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async tick() {
    this.timer = null;
    if (this.stopped || !this.following) return;
    try {
      await this.step();
    } catch (error) {
      this.error(error);
    }
    if (!this.stopped && this.following) this.schedule();
  }

  async step() {
    const { size, rotated } = await this.look();
    const newest = signatureOf(rotated);
    if (newest !== this.newest) {
      await this.catchUpRotated(rotated);
      this.newest = newest;
      this.position = 0;
    }
    if (size === null) return;
    if (size < this.position) {
      this.notice("… the file was truncated; reading it from its start");
      this.position = 0;
    }
    await this.copy(this.path, this.position, size);
  }

  /** The rest of the file being read (now `<path>.<n>`), then the files rotated after it. */
  async catchUpRotated(rotated) {
    let count = rotated.size;
    if (this.newest !== null) {
      const before = [...rotated].find(([, file]) => file.signature === this.newest);
      if (before) count = before[0] - 1;
    }
    const name = this.path.split("/").pop();
    const oldest = rotated.get(count);
    if (oldest && oldest.size >= this.position) {
      await this.copy(`${this.path}.${count}`, this.position, oldest.size);
    } else {
      this.notice(`… some of ${name} was rotated away before it could be shown`);
    }
    for (let index = count - 1; index >= 1; index -= 1) {
      const file = rotated.get(index);
      if (file) await this.copy(`${this.path}.${index}`, 0, file.size);
    }
    this.notice(`… ${name} was rotated`);
  }

  /** Append bytes [from, to) of `path`, skipping ahead when far behind. */
  async copy(path, from, to) {
    let start = from;
    if (to - start > CATCH_UP_BYTES) {
      this.notice(`… skipped ${to - start - CATCH_UP_BYTES} bytes`);
      start = to - CATCH_UP_BYTES;
    }
    while (start < to && !this.stopped) {
      const asked = to - start;
      const data = await this.read(path, start, asked);
      if (!data) break;
      this.output(data);
      start += bytesOf(data, asked);
    }
    if (path === this.path) this.position = start;
  }
}

/** A <pre> that keeps only its last SHOWN_CHARACTERS and stays scrolled to the end. */
export class TailView {
  constructor(pre) {
    this.pre = pre;
    this.length = 0;
  }

  add(text, className) {
    const atEnd = this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight < 40;
    const node = className ? Object.assign(document.createElement("span"), { className, textContent: `${text}\n` }) : document.createTextNode(text);
    this.pre.append(node);
    this.length += node.textContent.length;
    while (this.length > SHOWN_CHARACTERS && this.pre.firstChild !== this.pre.lastChild) {
      this.length -= this.pre.firstChild.textContent.length;
      this.pre.firstChild.remove();
    }
    if (atEnd) this.pre.scrollTop = this.pre.scrollHeight;
  }
}
