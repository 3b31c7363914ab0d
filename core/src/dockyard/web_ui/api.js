// The agent's HTTP API, as docs/agent-api.md describes it. Requests never use the
// browser's own credential store (credentials: "omit"): the page sends the Basic
// credentials its sign-in form was given, so no other site can borrow them.

import { RecordIOReader } from "./recordio.js";

const STORAGE_KEY = "dockyard.authorization";
export const UNAUTHORIZED = "dockyard:unauthorized";
export const SIGNED_IN = "dockyard:signed-in";

let authorization = sessionStorage.getItem(STORAGE_KEY);

/** An answer other than 2xx: the status and the API's own message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

export function signedIn() {
  return authorization !== null;
}

export function signIn(principal, secret) {
  const bytes = new TextEncoder().encode(`${principal}:${secret}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  authorization = `Basic ${btoa(binary)}`;
  sessionStorage.setItem(STORAGE_KEY, authorization);
  window.dispatchEvent(new Event(SIGNED_IN));
}

export function signOut() {
  authorization = null;
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Resolves at the next sign-in. */
export function nextSignIn() {
  return new Promise((resolve) => window.addEventListener(SIGNED_IN, resolve, { once: true }));
}

async function request(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (authorization) headers.Authorization = authorization;
  const response = await fetch(path, { ...init, headers, credentials: "omit", cache: "no-store" });
  if (!response.ok) {
    const message = (await response.text()).trim();
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: message }));
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

function snakeCase(type) {
  return type.toLowerCase();
}

function callInit(type, body, signal) {
  const call = { type };
  if (body !== undefined) call[snakeCase(type)] = body;
  return {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(call),
    signal,
  };
}

/** `POST /api/v1` with `{type, <type>: body}`; the JSON answer, or null for an empty one. */
export async function call(type, body) {
  const response = await request("/api/v1", callInit(type, body));
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** `GET path?parameters` as JSON. */
export async function getJSON(path, parameters = {}) {
  const query = new URLSearchParams(parameters).toString();
  const response = await request(query ? `${path}?${query}` : path);
  return response.json();
}

/** `SUBSCRIBE`: calls `onEvent` with each event until the stream ends. */
export async function subscribe(onEvent, signal) {
  const response = await request("/api/v1", callInit("SUBSCRIBE", undefined, signal));
  const reader = response.body.getReader();
  const records = new RecordIOReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const record of records.push(value)) onEvent(JSON.parse(record));
  }
}

/** Save a sandbox file (`/files/download`): a plain link, or through fetch with credentials. */
export async function download(path) {
  const url = `/files/download?${new URLSearchParams({ path })}`;
  const link = document.createElement("a");
  link.download = path.split("/").pop();
  let objectUrl = null;
  if (authorization) {
    objectUrl = URL.createObjectURL(await (await request(url)).blob());
    link.href = objectUrl;
  } else {
    link.href = url;
  }
  document.body.append(link);
  link.click();
  link.remove();
  if (objectUrl) setTimeout(() => URL.revokeObjectURL(objectUrl), 60000);
}
