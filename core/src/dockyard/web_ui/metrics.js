// /metrics/snapshot sampled every few seconds from the page's start, so that the Agent
// page can chart each counter over the page's lifetime (the agent keeps no history).

import { getJSON, nextSignIn } from "./api.js";

export const INTERVAL_MS = 3000;
export const KEPT_SAMPLES = 400;

/** key -> [{time, value}] */
export const series = new Map();
export const sampler = { error: null, last: null };
const listeners = new Set();

export function watchMetrics(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function sample() {
  try {
    const snapshot = await getJSON("/metrics/snapshot");
    const time = Date.now() / 1000;
    for (const [key, value] of Object.entries(snapshot)) {
      if (!series.has(key)) series.set(key, []);
      const points = series.get(key);
      points.push({ time, value });
      if (points.length > KEPT_SAMPLES) points.shift();
    }
    sampler.error = null;
    sampler.last = time;
  } catch (error) {
    sampler.error = error;
    if (error.status === 401) await nextSignIn();
  }
  for (const listener of listeners) listener();
}

export async function startSampling() {
  for (;;) {
    await sample();
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
}
