// The single page: a hash router over the Tasks, Sandbox and Agent pages, the sign-in form
// an agent with --authenticate_http_* needs, and the error banner that shows the API's own
// messages as they are.

import { signIn, signOut, signedIn, UNAUTHORIZED } from "./api.js";
import { h, replace } from "./dom.js";
import { startSampling } from "./metrics.js";
import { connection, follow, watch } from "./store.js";

const main = document.getElementById("main");
const errorBox = document.getElementById("error");
const errorText = document.getElementById("error-text");
const connectionText = document.getElementById("connection");
const signOutButton = document.getElementById("sign-out");
let leave = () => {};
let signingIn = false;

export function showError(message) {
  errorBox.className = "error";
  errorText.textContent = message;
  errorBox.hidden = false;
}

export function showNotice(message) {
  errorBox.className = "notice";
  errorText.textContent = message;
  errorBox.hidden = false;
}

/** Ask with a modal dialog; resolves true if the user confirmed. */
export function confirmAction(question, action) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = question;
  document.getElementById("confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

async function loadPage(name) {
  if (name === "sandbox") return import("./sandbox.js");
  if (name === "agent") return import("./agent.js");
  return import("./tasks.js");
}

async function show() {
  if (signingIn) return;
  const [path, query] = (location.hash.replace(/^#\/?/, "") || "tasks").split("?");
  const name = ["tasks", "sandbox", "agent"].includes(path) ? path : "tasks";
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const page = await loadPage(name);
  if (signingIn) return; // a 401 came while the page's code loaded
  leave();
  leave = page.render(main, new URLSearchParams(query || "")) || (() => {});
  document.title = `dockyard: ${name}`;
  signOutButton.hidden = !signedIn();
}

function showSignIn(message) {
  if (signingIn) return;
  signingIn = true;
  leave();
  leave = () => {};
  const principal = h("input", { id: "principal", name: "principal", autocomplete: "username", required: true });
  const secret = h("input", { id: "secret", name: "secret", type: "password", autocomplete: "current-password" });
  replace(main,
    h("h1", {}, "Sign in"),
    h("p", { class: "error-inline", role: "alert", id: "sign-in-reason" }, message || "This agent needs credentials."),
    h("form", { id: "sign-in", class: "sign-in", onsubmit: (event) => {
      event.preventDefault();
      signIn(principal.value, secret.value);
      signingIn = false;
      errorBox.hidden = true;
      show();
    } },
    h("label", { for: "principal" }, "Principal"), principal,
    h("label", { for: "secret" }, "Secret"), secret,
    h("button", { type: "submit" }, "Sign in")));
  principal.focus();
}

window.addEventListener(UNAUTHORIZED, (event) => {
  if (signedIn()) signOut();
  showSignIn(event.detail);
});
window.addEventListener("hashchange", show);
document.getElementById("error-close").addEventListener("click", () => { errorBox.hidden = true; });
signOutButton.addEventListener("click", () => {
  signOut();
  showSignIn("Signed out.");
});

watch(() => {
  connectionText.textContent = connection.state === "live" ? "● live" : `○ ${connection.state}`;
  connectionText.className = connection.state === "live" ? "live" : "offline";
});

show();
follow();
startSampling();
