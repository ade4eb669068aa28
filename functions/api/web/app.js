// The web page: sign in, list / create / edit instances, watch status and the event log.
// Plain JavaScript, no build step: it calls the same API as every other client.
"use strict";

(() => {
  const SESSION_KEY = "bcpoller.session";
  const AUTO_REFRESH_MS = 5000;
  const EVENT_STATUSES = ["queued", "delivering", "delivered", "retrying", "failed"];
  const MASK = "********";
  // Resolve API paths against the page's own folder so the page works under a stage prefix.
  const API_BASE = new URL(".", window.location.href);

  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  const toastBox = document.getElementById("toast");

  // ---------------------------------------------------------------- DOM helpers

  /** h("a", {href: "#/"}, "text", child): attributes starting with "on" are listeners. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (key === "class") {
        el.className = value;
      } else if (key === "dataset") {
        Object.assign(el.dataset, value);
      } else if (key === "value" || key === "checked") {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? "" : String(value));
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      // Text is always set as text, never parsed as HTML: API data may hold anything.
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  let idCounter = 0;
  const uid = (prefix) => `${prefix}-${++idCounter}`;

  function toast(message, kind = "info") {
    toastBox.textContent = message;
    toastBox.dataset.kind = kind;
    toastBox.classList.add("shown");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => toastBox.classList.remove("shown"), 6000);
  }

  function formatTime(value) {
    if (!value) return "—";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    // Relative on the page, exact on hover: UTC (what payloads and logs say) and the
    // reader's own clock, each with its zone.
    return h(
      "time",
      { datetime: date.toISOString(), title: absoluteTime(date), class: "rel-time" },
      relativeTime(date),
    );
  }

  function absoluteTime(date) {
    const utc = `${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "")} UTC`;
    const local = date.toLocaleString(undefined, { timeZoneName: "short" });
    return `${utc} · ${local}`;
  }

  function relativeTime(date, now = Date.now()) {
    const seconds = Math.round((date.getTime() - now) / 1000);
    const abs = Math.abs(seconds);
    const units = [
      [60, 1, "second"],
      [3600, 60, "minute"],
      [86400, 3600, "hour"],
      [Infinity, 86400, "day"],
    ];
    if (abs < 10) return "just now";
    const [, size, unit] = units.find(([limit]) => abs < limit);
    const n = Math.round(abs / size);
    const text = `${n} ${unit}${n === 1 ? "" : "s"}`;
    return seconds < 0 ? `${text} ago` : `in ${text}`;
  }

  function formatCount(value) {
    return value === undefined || value === null ? "—" : String(value);
  }

  function badge(text, kind) {
    return h("span", { class: `badge badge-${kind}` }, text);
  }

  // ---------------------------------------------------------------- session and API

  const session = {
    get() {
      try {
        const value = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
        if (value && value.store && value.instanceId) return value; // a store user's session (app load)
        return value && value.user && value.org ? value : null;
      } catch {
        return null;
      }
    },
    set(user, org) {
      // Session storage only: the secrets die with the tab and never enter a URL.
      sessionStorage.setItem(SESSION_KEY, JSON.stringify({ user, org }));
    },
    /** The short-lived session the BigCommerce app's load callback gives a store user:
     * it reaches that store's instance only. */
    setStore(token, instanceId) {
      sessionStorage.setItem(SESSION_KEY, JSON.stringify({ store: token, instanceId }));
    },
    clear() {
      sessionStorage.removeItem(SESSION_KEY);
    },
  };

  const storeSession = () => session.get()?.store ? session.get() : null;

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `The API answered ${status}`);
      this.status = status;
      this.errors = Array.isArray(body?.errors) ? body.errors : [];
    }
  }

  async function api(method, path, body, credentials = session.get()) {
    const headers = { Accept: "application/json" };
    if (credentials?.store) headers.Authorization = `Session ${credentials.store}`;
    else if (credentials) headers.Authorization = `User ${credentials.user}, Organization ${credentials.org}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(new URL(path.replace(/^\//, ""), API_BASE), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, { message: `Cannot reach the API: ${err.message}` });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { message: text.slice(0, 300) };
      }
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      const current = session.get();
      // Only the stored secrets' own refusal ends the session (not a sign-in attempt's).
      if (response.status === 401 && current && credentials && current.user === credentials.user && current.org === credentials.org && current.store === credentials.store) {
        session.clear();
        signInMessage = current.store
          ? "Your store session has ended; open the app again from the BigCommerce control panel."
          : "Your session was not accepted; please sign in again.";
        window.location.hash = "#/signin";
      }
      throw error;
    }
    return data;
  }

  /** Runs work once at a time per control. aria-disabled, not disabled: a disabled
   * control drops the keyboard focus to the page body. */
  async function whileBusy(control, work) {
    if (control.getAttribute("aria-disabled") === "true") return;
    control.setAttribute("aria-disabled", "true");
    try {
      await work();
    } finally {
      control.removeAttribute("aria-disabled");
    }
  }

  function reportError(err, context) {
    toast(`${context}: ${err.message}`, "error");
  }

  // ---------------------------------------------------------------- routing

  // Each render gets a generation number so a slow response never paints over a newer view.
  let generation = 0;
  let timers = [];
  let signInMessage = "";

  function stopTimers() {
    timers.forEach(clearInterval);
    timers = [];
  }

  function view(title, ...children) {
    document.title = `${title} · BigCommerce polling events`;
    main.replaceChildren(...children.flat());
  }

  function focusHeading() {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
  }

  const routes = [
    [/^#\/app$/, () => viewApp()],
    [/^#\/new$/, () => viewForm(null)],
    [/^#\/instances\/([^/]+)\/edit$/, (id) => viewForm(decodeURIComponent(id))],
    [/^#\/instances\/([^/]+)$/, (id) => viewInstance(decodeURIComponent(id))],
    // One event's own link (issue 20): the instance page with the log searched for it.
    [/^#\/instances\/([^/]+)\/events\/([^/]+)$/, (id, eventId) => viewInstance(decodeURIComponent(id), decodeURIComponent(eventId))],
    [/^(#\/?)?$/, () => viewList()],
  ];

  async function route() {
    stopTimers();
    const current = ++generation;
    const hash = window.location.hash;
    // The app's load callback lands here with a store session in the fragment: keep it in
    // this tab only and take it out of the address bar and the history at once.
    const landing = hash.match(/^#\/session\/([^/]+)\/([^/]+)$/);
    if (landing) {
      session.setStore(decodeURIComponent(landing[2]), decodeURIComponent(landing[1]));
      window.location.replace(`#/instances/${landing[1]}`);
      return;
    }
    const store = storeSession();
    if (store && hash !== `#/instances/${encodeURIComponent(store.instanceId)}`) {
      window.location.replace(`#/instances/${encodeURIComponent(store.instanceId)}`);
      return;
    }
    const signedIn = Boolean(session.get());
    nav.hidden = !signedIn;
    for (const link of nav.querySelectorAll("[data-org-only]")) link.hidden = Boolean(store);
    if (!signedIn || hash === "#/signin") {
      if (signedIn) {
        window.location.hash = "#/";
        return;
      }
      viewSignIn();
      return;
    }
    for (const [pattern, render] of routes) {
      const match = hash.match(pattern);
      if (match) {
        await render(...match.slice(1));
        if (current === generation) focusHeading();
        return;
      }
    }
    view("Not found", h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the instances")));
    focusHeading();
  }

  const isCurrent = (gen) => gen === generation;

  // ---------------------------------------------------------------- sign in

  function viewSignIn() {
    const user = field({ label: "User secret", name: "user", type: "password", autocomplete: "off", required: true });
    const org = field({
      label: "Organization secret",
      name: "org",
      type: "password",
      autocomplete: "off",
      required: true,
    });
    const error = h("p", { class: "form-error", role: "alert" }, signInMessage);
    signInMessage = "";
    const form = h(
      "form",
      { class: "card narrow", novalidate: true, "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title" }, "Sign in"),
      h("p", { class: "hint" }, "Your secrets stay in this browser tab only and are sent in the Authorization header."),
      h(
        "p",
        { class: "hint signin-where" },
        "Where they come from: `make create-org` prints an organization's two secrets once. With `make run`, they are the “authorization” value in .local/stack.json (the terminal prints its path). You may paste that whole value (User …, Organization …) into either field.",
      ),
      user.wrap,
      org.wrap,
      error,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const credentials = { user: user.input.value.trim(), org: org.input.value.trim() };
      // A pasted whole Authorization value ("User u, Organization o") fills both.
      for (const text of [credentials.user, credentials.org]) {
        const whole = parseAuthorization(text);
        if (whole) Object.assign(credentials, whole);
      }
      if (!credentials.user || !credentials.org) {
        error.textContent = "Enter both the user secret and the organization secret.";
        return;
      }
      try {
        await api("GET", "instances", undefined, credentials);
      } catch (err) {
        error.textContent =
          err.status === 401 || err.status === 403 ? "These secrets were not accepted." : err.message;
        return;
      }
      session.set(credentials.user, credentials.org);
      // Setting the hash it already has fires no hashchange: route by hand then.
      if (window.location.hash === "#/") route();
      else window.location.hash = "#/";
    });
    view("Sign in", form);
    user.input.focus();
  }

  /** {user, org} from "User u, Organization o" (what `make create-org` and the stack
   * file print), or null when the text is a single secret. */
  function parseAuthorization(text) {
    const user = text.match(/(?:^|[\s,])User\s+([^,\s]+)/);
    const org = text.match(/(?:^|[\s,])Organization\s+([^,\s]+)/);
    return user && org ? { user: user[1], org: org[1] } : null;
  }

  // ---------------------------------------------------------------- instances list

  function instanceResources(instance) {
    return instance.resources || [];
  }

  function parsePollerConfig(value) {
    if (typeof value === "string") {
      try {
        return value.trim() ? JSON.parse(value) : {};
      } catch {
        return {};
      }
    }
    return value || {};
  }

  function instanceStore(instance) {
    const config = instance.configuration || {};
    return config["store.hash"] || config["store.url"] || "—";
  }

  function eventsEnabled(instance) {
    return instance.eventsEnabled === true;
  }

  function authBadge(state) {
    if (!state) return "—";
    return badge(state, state === "ok" ? "ok" : "bad");
  }

  function counts24h(status) {
    return { delivered: status.last24h?.delivered, failed: status.last24h?.failed };
  }

  /** [[resource name, its cursor and poll figures], ...] from GET /instances/{id}/status. */
  function resourceStatuses(status) {
    return (status.resources || []).map((r) => [r.resource, r]);
  }

  function lastPoll(status) {
    let latest = null;
    for (const [, r] of resourceStatuses(status)) {
      const at = r.lastPollEnd || r.lastPollStart;
      if (at && (!latest || at > latest)) latest = at;
    }
    return latest;
  }

  async function viewList() {
    const gen = generation;
    view("Instances", h("h1", {}, "Instances"), h("p", { class: "loading" }, "Loading…"));
    let data;
    try {
      data = await api("GET", "instances");
    } catch (err) {
      if (!isCurrent(gen)) return;
      view("Instances", h("h1", {}, "Instances"), h("p", { class: "form-error", role: "alert" }, err.message));
      return;
    }
    if (!isCurrent(gen)) return;
    const instances = Array.isArray(data) ? data : [];
    const header = h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Instances"),
      h("a", { class: "button primary", href: "#/new" }, "New instance"),
    );
    if (!instances.length) {
      view(
        "Instances",
        header,
        h("p", { class: "empty" }, "No instances yet. ", h("a", { href: "#/new" }, "Create the first one"), "."),
      );
      return;
    }
    let statuses = Promise.resolve();
    const rows = instances.map((instance) => {
      const id = instance.id;
      const cells = {
        poll: h("td", { "data-label": "Last poll" }, "…"),
        delivered: h("td", { "data-label": "Delivered 24 h", class: "num" }, "…"),
        failed: h("td", { "data-label": "Failed 24 h", class: "num" }, "…"),
        auth: h("td", { "data-label": "Auth" }, authBadge(instance.authState)),
      };
      const row = h(
        "tr",
        { dataset: { instanceId: id } },
        h(
          "th",
          { scope: "row", "data-label": "Name" },
          h("a", { href: `#/instances/${encodeURIComponent(id)}` }, instance.name || id),
        ),
        h("td", { "data-label": "Store" }, instanceStore(instance)),
        h("td", { "data-label": "Events" }, eventsEnabled(instance) ? badge("on", "ok") : badge("off", "muted")),
        h("td", { "data-label": "Resources" }, instanceResources(instance).join(", ") || "—"),
        cells.auth,
        cells.poll,
        cells.delivered,
        cells.failed,
      );
      // The list carries no poll figures: each instance's status is fetched beside it.
      const fill = (status) => {
        const c = counts24h(status);
        cells.poll.replaceChildren(formatTime(lastPoll(status)));
        cells.delivered.textContent = formatCount(c.delivered);
        cells.failed.textContent = formatCount(c.failed);
        if (status.authState) cells.auth.replaceChildren(authBadge(status.authState));
      };
      // One status request at a time (the previous row's first): a list of many
      // instances never sends them all at once to the API.
      statuses = statuses.then(() =>
        isCurrent(gen)
          ? api("GET", `instances/${encodeURIComponent(id)}/status`)
              .then((status) => isCurrent(gen) && fill(status || {}))
              .catch(() => {
                for (const cell of [cells.poll, cells.delivered, cells.failed]) cell.textContent = "?";
              })
          : null,
      );
      return row;
    });
    const table = h(
      "table",
      { class: "grid", "aria-label": "Instances" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Name", "Store", "Events", "Resources", "Auth", "Last poll", "Delivered 24 h", "Failed 24 h"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h("tbody", {}, rows),
    );
    view("Instances", header, h("div", { class: "table-wrap" }, table));
  }

  // ---------------------------------------------------------------- form fields

  /** A labelled input with its own error slot; data-field is the API's dotted error path. */
  function field({ label, name, type = "text", hint, apiField, value, options, ...rest }) {
    const id = uid(name.replace(/[^a-z0-9]+/gi, "-"));
    const errorId = `${id}-error`;
    const hintId = hint ? `${id}-hint` : null;
    let input;
    if (type === "textarea") {
      input = h("textarea", { id, name, rows: 8, spellcheck: "false", ...rest });
      input.value = value ?? "";
    } else if (type === "select") {
      input = h(
        "select",
        { id, name, ...rest },
        options.map(([v, text]) => h("option", { value: v }, text)),
      );
      if (value !== undefined) input.value = value;
    } else {
      input = h("input", { id, name, type, ...rest });
      if (type === "checkbox") input.checked = Boolean(value);
      else if (value !== undefined && value !== null) input.value = value;
    }
    input.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
    const error = h("p", { class: "field-error", id: errorId });
    const labelEl = h("label", { for: id }, label);
    const wrap =
      type === "checkbox"
        ? h("div", { class: "field field-check" }, input, labelEl, hint && h("p", { class: "hint", id: hintId }, hint), error)
        : h("div", { class: "field" }, labelEl, hint && h("p", { class: "hint", id: hintId }, hint), input, error);
    if (apiField) wrap.dataset.field = apiField;
    return { wrap, input, error };
  }

  function setFieldError(wrap, message) {
    const input = wrap.querySelector("input, textarea, select");
    const slot = wrap.querySelector(":scope > .field-error");
    if (slot) slot.textContent = message || "";
    if (input) input.toggleAttribute("aria-invalid", Boolean(message));
    wrap.classList.toggle("has-error", Boolean(message));
  }

  /** The field wrapper whose data-field is the longest prefix of the API's error path. */
  function wrapperFor(form, path) {
    let best = null;
    for (const wrap of form.querySelectorAll("[data-field]")) {
      const key = wrap.dataset.field;
      if ((path === key || path.startsWith(`${key}.`) || path.startsWith(`${key}[`)) && (!best || key.length > best.dataset.field.length)) {
        if (!wrap.closest("[hidden]")) best = wrap;
      }
    }
    return best;
  }

  function normalisePath(path) {
    // Accept "body.configuration.x", "configuration['x']" or a list of parts.
    let text = Array.isArray(path) ? path.join(".") : String(path || "");
    text = text.replace(/\[['"]([^'"\]]+)['"]\]/g, ".$1").replace(/^body\./, "");
    return text;
  }

  function showErrors(form, summary, errors, message) {
    for (const wrap of form.querySelectorAll("[data-field]")) setFieldError(wrap, "");
    summary.replaceChildren();
    summary.hidden = true;
    if (!errors.length && !message) return;
    const items = [];
    const grouped = new Map();
    const seen = new Set();
    for (const err of errors) {
      const path = normalisePath(err.field);
      const wrap = path ? wrapperFor(form, path) : null;
      const text = inWords(form, textOf(err.problem) || textOf(err.message) || "is not valid");
      // The page's own check and the API's may say the same of one field: once is enough.
      const key = `${wrap ? wrap.dataset.field : path}|${text}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (wrap) {
        // The advanced JSON editors hide inside <details>: open it so the error is seen.
        const details = wrap.closest("details");
        if (details) details.open = true;
        const list = grouped.get(wrap) || [];
        const suffix = path !== wrap.dataset.field ? `${path.slice(wrap.dataset.field.length + 1)}: ` : "";
        list.push(`${suffix}${text}`);
        grouped.set(wrap, list);
      }
      const target = wrap && wrap.querySelector("input, textarea, select");
      items.push(
        h(
          "li",
          {},
          target
            ? h("a", { href: `#${target.id}`, onclick: (e) => (e.preventDefault(), target.focus()) }, `${labelOf(wrap)}: ${text}`)
            : path
              ? `${inWords(form, path.replace(/^configuration\./, ""))}: ${text}`
              : text,
        ),
      );
    }
    for (const [wrap, list] of grouped) setFieldError(wrap, list.join("; "));
    // The API's summary names a count of "problem(s)" of "the instance body": say it for people.
    const headline = items.length
      ? `${items.length === 1 ? "One thing" : `${items.length} things`} to correct, each shown beside its field:`
      : textOf(message) || "The request was refused; nothing was saved.";
    summary.append(h("p", {}, headline), items.length ? h("ul", {}, items) : null);
    summary.hidden = false;
    summary.focus();
  }

  /** Text of an API value, never "null" or "undefined". */
  function textOf(value) {
    if (value === undefined || value === null) return "";
    const text = String(value).trim();
    return text === "null" || text === "undefined" ? "" : text;
  }

  function labelOf(wrap) {
    return wrap.querySelector("label, legend")?.textContent?.trim() || wrap.dataset.field;
  }

  /** Configuration keys in an API problem ("event.notification.enabled") named by the
   * form's labels ("“Deliver events”") instead. */
  function inWords(form, text) {
    let out = text;
    const wraps = [...form.querySelectorAll("[data-field]")].filter((w) => !w.closest("[hidden]"));
    wraps.sort((a, b) => b.dataset.field.length - a.dataset.field.length);
    for (const wrap of wraps) {
      const key = wrap.dataset.field.replace(/^configuration\./, "");
      if (key.includes(".") && out.includes(key)) out = out.split(`configuration.${key}`).join(key).split(key).join(`“${labelOf(wrap)}”`);
    }
    return out;
  }

  // ---------------------------------------------------------------- create / edit form

  async function loadCatalog() {
    const data = await api("GET", "catalog");
    return (data?.resources || []).map((entry) => ({
      name: entry.name,
      label: entry.name,
      description: [entry.description, entry.legacyAuth === false ? "API account (token) only" : ""]
        .filter(Boolean)
        .join(" · "),
      defaults: entry.configuration,
    }));
  }

  function resourceChooser(catalog, chosen) {
    const wrap = h("fieldset", { class: "resources", dataset: { field: "configuration.event.poller.configuration" } });
    wrap.append(h("legend", {}, "Resources to poll"));
    wrap.append(h("p", { class: "hint" }, "Tick each resource to poll. Its poller configuration starts from the catalog's default; open Advanced to change it."));
    const known = new Map(catalog.map((entry) => [entry.name, entry]));
    // Resources in the instance but not in the catalog are kept (the body allows any hub URL).
    for (const name of Object.keys(chosen || {})) {
      if (!known.has(name)) known.set(name, { name, label: name, description: "", defaults: chosen[name] });
    }
    const rows = [];
    for (const entry of known.values()) {
      const isChosen = chosen ? Object.hasOwn(chosen, entry.name) : false;
      const config = isChosen ? chosen[entry.name] : entry.defaults;
      const check = field({
        label: entry.label,
        name: `resource-${entry.name}`,
        type: "checkbox",
        value: isChosen,
        hint: entry.description || undefined,
      });
      check.input.dataset.resource = entry.name;
      const editor = field({
        label: `${entry.name} poller configuration (JSON)`,
        name: `resource-json-${entry.name}`,
        type: "textarea",
        value: JSON.stringify(config, null, 2),
        apiField: `configuration.event.poller.configuration.${entry.name}`,
      });
      editor.input.classList.add("code");
      const details = h("details", { class: "advanced" }, h("summary", {}, `Advanced: ${entry.name}`), editor.wrap);
      rows.push(h("div", { class: "resource" }, check.wrap, details));
    }
    append(wrap, rows);
    const error = h("p", { class: "field-error" });
    wrap.append(error);
    return wrap;
  }

  /** Each ticked resource's JSON; errors are put next to the editor that has them. */
  function readResources(fieldset) {
    const config = {};
    const errors = [];
    for (const check of fieldset.querySelectorAll("input[data-resource]")) {
      if (!check.checked) continue;
      const name = check.dataset.resource;
      const textarea = fieldset.querySelector(`textarea[name="resource-json-${CSS.escape(name)}"]`);
      try {
        const value = JSON.parse(textarea.value);
        if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("must be a JSON object");
        config[name] = value;
      } catch (err) {
        errors.push({ field: `configuration.event.poller.configuration.${name}`, problem: `is not valid JSON: ${err.message}` });
      }
    }
    return { config, errors };
  }

  async function viewForm(instanceId) {
    const gen = generation;
    const editing = instanceId !== null;
    const title = editing ? "Edit instance" : "New instance";
    view(title, h("h1", {}, title), h("p", { class: "loading" }, "Loading…"));
    let catalog = [];
    let instance = null;
    try {
      [catalog, instance] = await Promise.all([
        loadCatalog().catch((err) => {
          toast(`The resource catalog did not load: ${err.message}`, "error");
          return [];
        }),
        editing ? api("GET", `instances/${encodeURIComponent(instanceId)}`) : Promise.resolve(null),
      ]);
    } catch (err) {
      if (!isCurrent(gen)) return;
      view(title, h("h1", {}, title), h("p", { class: "form-error", role: "alert" }, err.message));
      return;
    }
    if (!isCurrent(gen)) return;
    const config = instance?.configuration || {};
    const secretHint = editing ? "Leave blank to keep the current value." : undefined;
    const secretValue = (key) => (config[key] === MASK ? "" : config[key]);

    const name = field({ label: "Name", name: "name", apiField: "name", value: instance?.name ?? "", required: true });
    const tags = field({
      label: "Tags",
      name: "tags",
      apiField: "tags",
      value: (instance?.tags || []).filter(Boolean).join(", "),
      hint: "Comma separated.",
    });

    const oauthApp = Boolean(config["oauth.api.key"]);
    const legacy = !oauthApp && Boolean(config["username"] || (config["store.url"] && !config["store.hash"]));
    const modeToken = h("input", { type: "radio", name: "auth-mode", id: uid("mode-token"), value: "token", checked: !legacy && !oauthApp });
    const modeOauth = h("input", { type: "radio", name: "auth-mode", id: uid("mode-oauth"), value: "oauth", checked: oauthApp });
    const modeLegacy = h("input", { type: "radio", name: "auth-mode", id: uid("mode-legacy"), value: "legacy", checked: legacy });
    const storeHash = field({
      label: "Store hash",
      name: "store.hash",
      apiField: "configuration.store.hash",
      value: config["store.hash"] ?? "",
      hint: "The part after /stores/ in the API path, e.g. abc123.",
      autocomplete: "off",
    });
    const accessToken = field({
      label: "Access token",
      name: "access.token",
      type: "password",
      apiField: "configuration.access.token",
      hint: secretHint,
      autocomplete: "off",
    });
    const storeUrl = field({
      label: "Store URL",
      name: "store.url",
      type: "url",
      apiField: "configuration.store.url",
      value: config["store.url"] ?? "",
      hint: "e.g. https://store-abc123.mybigcommerce.com/api/v2",
    });
    const username = field({
      label: "Username",
      name: "username",
      apiField: "configuration.username",
      value: secretValue("username") ?? "",
      autocomplete: "off",
    });
    const password = field({
      label: "Password",
      name: "password",
      type: "password",
      apiField: "configuration.password",
      hint: secretHint,
      autocomplete: "off",
    });
    // An API account's store is named by its hash alone; its URL only when it is not at
    // BigCommerce's usual API address (the same key as the legacy store URL).
    const tokenStoreUrl = field({
      label: "Store API URL (optional)",
      name: "store.url",
      type: "url",
      apiField: "configuration.store.url",
      value: !legacy && config["store.hash"] ? config["store.url"] ?? "" : "",
      hint: "The store hash is enough. Give a URL only for a store reached at another API address, e.g. https://api.bigcommerce.com/stores/abc123.",
    });
    const tokenGroup = h("div", { class: "cred-group" }, storeHash.wrap, accessToken.wrap, tokenStoreUrl.wrap);
    const legacyGroup = h("div", { class: "cred-group" }, storeUrl.wrap, username.wrap, password.wrap);
    const oauthGroup = oauthAppNote(editing, config);
    const syncMode = () => {
      tokenGroup.hidden = !modeToken.checked;
      legacyGroup.hidden = !modeLegacy.checked;
      oauthGroup.hidden = !modeOauth.checked;
    };
    modeToken.addEventListener("change", syncMode);
    modeLegacy.addEventListener("change", syncMode);
    modeOauth.addEventListener("change", syncMode);
    syncMode();
    const credentials = h(
      "fieldset",
      { class: "credentials" },
      h("legend", {}, "Store credentials"),
      h(
        "div",
        { class: "radios" },
        h("span", {}, modeToken, h("label", { for: modeToken.id }, "API account (token)")),
        h("span", {}, modeLegacy, h("label", { for: modeLegacy.id }, "Legacy API account (basic auth)")),
        h("span", {}, modeOauth, h("label", { for: modeOauth.id }, "OAuth app")),
      ),
      tokenGroup,
      legacyGroup,
      oauthGroup,
    );

    const enabled = field({
      label: "Events",
      name: "events",
      type: "checkbox",
      apiField: "configuration.event.notification.enabled",
      value: editing ? eventsEnabled(instance) : true,
      hint: "Poll the store and send each change to the callback URL.",
      role: "switch",
    });
    const callback = field({
      label: "Callback URL",
      name: "callback",
      type: "url",
      apiField: "configuration.event.notification.callback.url",
      value: config["event.notification.callback.url"] ?? "",
      hint: "Where each event is POSTed (https).",
    });
    const signatureKey = field({
      label: "Signature key",
      name: "signature.key",
      type: "password",
      apiField: "configuration.event.notification.signature.key",
      hint: editing
        ? "Leave blank to keep the current value."
        : "Optional: signs each event in the Elements-Webhook-Signature header.",
      autocomplete: "off",
    });
    const refresh = field({
      label: "Refresh interval (minutes)",
      name: "refresh",
      type: "number",
      apiField: "configuration.event.poller.refresh_interval",
      value: config["event.poller.refresh_interval"] ?? instance?.refreshInterval ?? "",
      hint: "Blank uses the default.",
      min: 1,
      step: 1,
      inputmode: "numeric",
    });
    const backfill = field({
      label: "Backfill since (optional)",
      name: "backfill",
      type: "datetime-local",
      apiField: "configuration.event.poller.backfill_since",
      hint: "The first poll also emits what changed since then (your local time).",
    });
    const chosen = editing ? parsePollerConfig(config["event.poller.configuration"]) : null;
    const resources = resourceChooser(catalog, chosen);

    const summary = h("div", { class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
    const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create Instance");
    const form = h(
      "form",
      { class: "card instance-form", novalidate: true },
      summary,
      h("fieldset", {}, h("legend", {}, "Instance"), name.wrap, tags.wrap),
      credentials,
      h("fieldset", {}, h("legend", {}, "Events"), enabled.wrap, callback.wrap, signatureKey.wrap, refresh.wrap, editing ? null : backfill.wrap),
      resources,
      h(
        "div",
        { class: "actions" },
        submit,
        h("a", { class: "button", href: editing ? `#/instances/${encodeURIComponent(instanceId)}` : "#/" }, "Cancel"),
      ),
    );

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (modeOauth.checked && !editing) {
        // An OAuth app's instances are made by each store's install, not by this form.
        window.location.hash = "#/app";
        return;
      }
      const configuration = {};
      const put = (key, value) => {
        if (value !== "" && value !== undefined) configuration[key] = value;
      };
      if (modeOauth.checked) {
        // The install's credentials stay as they are.
      } else if (modeLegacy.checked) {
        put("store.url", storeUrl.input.value.trim());
        put("username", username.input.value.trim());
        put("password", password.input.value);
      } else {
        put("store.hash", storeHash.input.value.trim());
        put("access.token", accessToken.input.value.trim());
        put("store.url", tokenStoreUrl.input.value.trim());
      }
      if (editing && !modeOauth.checked) {
        // Switching credential kind: PATCH removes a key given as null.
        const unused = modeLegacy.checked ? ["store.hash", "access.token"] : ["store.url", "username", "password"];
        for (const key of unused) if (key in config && !(key in configuration)) configuration[key] = null;
      }
      configuration["event.notification.enabled"] = enabled.input.checked;
      put("event.notification.callback.url", callback.input.value.trim());
      put("event.notification.signature.key", signatureKey.input.value);
      const minutes = refresh.input.value.trim();
      configuration["event.poller.refresh_interval"] = minutes === "" ? "" : Number(minutes);
      if (!editing && backfill.input.value) {
        configuration["event.poller.backfill_since"] = new Date(backfill.input.value).toISOString();
      }
      const { config: pollerConfig, errors } = readResources(resources);
      configuration["event.poller.configuration"] = pollerConfig;
      const local = [...errors];
      if (!name.input.value.trim()) local.push({ field: "name", problem: "is required" });
      if (enabled.input.checked && !errors.length && !Object.keys(pollerConfig).length) {
        local.push({ field: "configuration.event.poller.configuration", problem: "tick at least one resource to poll" });
      }
      // Nothing is held back for a second round: the API checks the rest of the body (and
      // the store's credentials) and its verdict is shown with the page's own, together.
      const body = {
        name: name.input.value.trim(),
        tags: tags.input.value
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean),
        configuration,
      };
      await whileBusy(submit, async () => {
        if (local.length && !editing) {
          // The page found problems: nothing is made, but the API is asked what else it
          // would refuse, so every problem shows after this one submit.
          let remote = [];
          try {
            // A missing name is the page's to report; the rest of the body is still checked.
            await api("POST", "instances/check", { element: { key: "bigcommerce" }, ...body, name: body.name || "unnamed" });
          } catch (err) {
            remote = err.errors.length ? err.errors : [{ field: "", problem: textOf(err.message) }];
          }
          // Where the page already said what is wrong with a field, its words stand.
          const said = local.map((e) => normalisePath(e.field));
          remote = remote.filter((e) => !said.some((f) => f && normalisePath(e.field).startsWith(f)));
          showErrors(form, summary, [...local, ...remote]);
          return;
        }
        if (local.length) {
          showErrors(form, summary, local);
          return;
        }
        try {
          if (editing) {
            await api("PATCH", `instances/${encodeURIComponent(instanceId)}`, body);
            toast("Instance saved.");
            window.location.hash = `#/instances/${encodeURIComponent(instanceId)}`;
          } else {
            const created = await api("POST", "instances", { element: { key: "bigcommerce" }, ...body });
            showCreated(created);
          }
        } catch (err) {
          showErrors(form, summary, [...local, ...err.errors], local.length ? "" : err.message);
        }
      });
    });

    view(title, h("h1", {}, title), form);
  }

  /** The instance token and signing secret are returned once: show them before moving on. */
  function showCreated(created) {
    const id = created.id ?? created.instanceId;
    const secret = (label, value) => {
      if (!value) return null;
      const out = h("code", { class: "secret" }, value);
      return h(
        "div",
        { class: "secret-row" },
        h("dt", {}, label),
        h(
          "dd",
          {},
          out,
          h(
            "button",
            {
              type: "button",
              class: "small",
              onclick: async () => {
                try {
                  await navigator.clipboard.writeText(value);
                  toast(`${label} copied.`);
                } catch {
                  window.getSelection().selectAllChildren(out);
                  toast("Selected: press Ctrl+C to copy.");
                }
              },
            },
            `Copy ${label.toLowerCase()}`,
          ),
        ),
      );
    };
    view(
      "Instance created",
      h("h1", {}, "Instance created"),
      h(
        "section",
        { class: "card created", "aria-labelledby": "created-note" },
        h("p", { id: "created-note", class: "warning" }, "Save these now: the token and the signing secret are shown only once."),
        h(
          "dl",
          {},
          secret("Instance id", String(id)),
          secret("Instance token", created.token),
          secret("Signing secret", created.signingSecret),
        ),
        h("div", { class: "actions" }, h("a", { class: "button primary", href: `#/instances/${encodeURIComponent(id)}` }, "Open the instance")),
      ),
    );
    focusHeading();
  }

  // ---------------------------------------------------------------- instance page

  async function viewInstance(id, focusEventId) {
    const gen = generation;
    const path = `instances/${encodeURIComponent(id)}`;
    view("Instance", h("h1", {}, "Instance"), h("p", { class: "loading" }, "Loading…"));
    let instance;
    try {
      instance = await api("GET", path);
    } catch (err) {
      if (!isCurrent(gen)) return;
      view("Instance", h("h1", {}, "Instance"), h("p", { class: "form-error", role: "alert" }, err.message), h("p", {}, h("a", { href: "#/" }, "Back to the instances")));
      return;
    }
    if (!isCurrent(gen)) return;

    const eventsSwitch = h("input", {
      type: "checkbox",
      role: "switch",
      id: uid("events-switch"),
      checked: eventsEnabled(instance),
    });
    eventsSwitch.addEventListener("change", async () => {
      const on = eventsSwitch.checked;
      if (eventsSwitch.getAttribute("aria-disabled") === "true") {
        eventsSwitch.checked = !on; // the previous change is still on its way
        return;
      }
      await whileBusy(eventsSwitch, async () => {
        try {
          await api(on ? "PUT" : "DELETE", `${path}/events/enabled`);
          toast(on ? "Events turned on." : "Events turned off.");
        } catch (err) {
          eventsSwitch.checked = !on;
          reportError(err, "Events were not changed");
        }
      });
    });

    const pollButton = h("button", { type: "button" }, "Poll now");
    pollButton.addEventListener("click", () =>
      whileBusy(pollButton, async () => {
        try {
          await api("POST", `${path}/poll`);
          toast("Poll started.");
          setTimeout(() => isCurrent(gen) && refreshAll(), 1000);
        } catch (err) {
          reportError(err, "Poll now failed");
        }
      }),
    );

    const deleteButton = h("button", { type: "button", class: "danger" }, "Delete");
    deleteButton.addEventListener("click", () => confirmDelete(instance, path, deleteButton));

    // Issue 20: "Poll now" only while events are on (the API answers 409 otherwise),
    // a banner when the receiver said 410, and the signing secret's rotation.
    const syncPollButton = () => {
      pollButton.disabled = !eventsSwitch.checked;
      pollButton.title = eventsSwitch.checked ? "" : "Turn events on to poll";
    };
    syncPollButton();
    eventsSwitch.addEventListener("change", syncPollButton);
    const rotateButton = h("button", { type: "button" }, "Rotate signing secret");
    rotateButton.addEventListener("click", () => confirmRotate(path, rotateButton));
    const goneBanner = instance.notificationsDisabledReason
      ? h(
          "div",
          { class: "banner banner-bad", role: "alert" },
          h("p", {}, h("strong", {}, "Deliveries stopped. "), instance.notificationsDisabledReason, "."),
          h(
            "p",
            {},
            "The receiver asked to stop (HTTP 410 Gone), so events were turned off. Fix the receiver or change the callback URL, then turn events on again: ",
            h("a", { href: `#/${path}/edit` }, "Edit the callback URL"),
            " or use the Events switch above.",
          ),
        )
      : null;

    const statusBox = h("div", { class: "status-box" }, h("p", { class: "loading" }, "Loading…"));
    const log = eventLog(path, gen, focusEventId);

    // One request in flight per view: a slow API gets the next request only after it
    // answered this one, and an auto-refresh tick while one is running is skipped.
    let refreshing = null;
    const refreshAll = () => {
      if (!refreshing) {
        refreshing = (async () => {
          try {
            await loadStatus();
            await log.refresh();
          } finally {
            refreshing = null;
          }
        })();
      }
      return refreshing;
    };
    const loadStatus = async () => {
      try {
        const status = await api("GET", `${path}/status`);
        if (isCurrent(gen)) statusBox.replaceChildren(renderStatus(status || {}), renderWakeup(status || {}), renderHealth(status || {}, path, () => refreshAll()));
      } catch (err) {
        if (isCurrent(gen)) statusBox.replaceChildren(h("p", { class: "form-error" }, `Status: ${err.message}`));
      }
    };

    const autoRefresh = h("input", { type: "checkbox", id: uid("auto"), checked: true });
    const refreshButton = h("button", { type: "button", onclick: () => refreshAll() }, "Refresh");
    const config = instance.configuration || {};
    const name = instance.name || id;

    view(
      name,
      h(
        "div",
        { class: "page-head" },
        h("div", {}, storeSession() ? null : h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Instances"), " / "), h("h1", {}, name)),
        // A store user's session (opened from the BigCommerce control panel) only reads.
        storeSession()
          ? null
          : h(
              "div",
              { class: "toolbar", role: "group", "aria-label": "Instance actions" },
              h("span", { class: "switch" }, eventsSwitch, h("label", { for: eventsSwitch.id }, "Events")),
              wakeSwitch(instance, path, () => isCurrent(gen) && refreshAll()),
              pollButton,
              h("a", { class: "button", href: `#/${path}/edit` }, "Edit"),
              rotateButton,
              deleteButton,
            ),
      ),
      goneBanner ? [goneBanner] : [], // replaceChildren would write a null as "null"
      h(
        "dl",
        { class: "facts" },
        fact("Instance id", h("code", {}, String(instance.id))),
        fact("Store", instanceStore(instance)),
        fact("Callback URL", config["event.notification.callback.url"] || "—"),
        fact("Refresh", refreshText(instance)),
        fact("Tags", (instance.tags || []).filter(Boolean).join(", ") || "—"),
        fact("Created", formatTime(instance.createdDate)),
        instance.installState ? fact("BigCommerce app", installBadge(instance.installState)) : null,
        instance.notificationsDisabledReason ? fact("Notifications off", instance.notificationsDisabledReason) : null,
      ),
      h(
        "section",
        { "aria-labelledby": "status-title" },
        h(
          "div",
          { class: "section-head" },
          h("h2", { id: "status-title" }, "Status"),
          h("span", { class: "toolbar" }, h("span", { class: "check" }, autoRefresh, h("label", { for: autoRefresh.id }, "Auto-refresh")), refreshButton),
        ),
        statusBox,
      ),
      log.section,
    );
    refreshAll();
    timers.push(
      setInterval(() => {
        if (autoRefresh.checked && !document.hidden && isCurrent(gen)) refreshAll();
      }, AUTO_REFRESH_MS),
    );
  }

  // -- Wake-up (issue 18): BigCommerce webhooks wake the poller ---------------------------

  /** The "Wake on change" switch: PATCHes event.poller.wakeup (hooks follow on the store). */
  function wakeSwitch(instance, path, refresh) {
    const config = instance.configuration || {};
    const input = h("input", {
      type: "checkbox",
      role: "switch",
      id: uid("wake-switch"),
      checked: config["event.poller.wakeup"] === true || config["event.poller.wakeup"] === "true",
    });
    input.addEventListener("change", async () => {
      const on = input.checked;
      if (input.getAttribute("aria-disabled") === "true") {
        input.checked = !on;
        return;
      }
      await whileBusy(input, async () => {
        try {
          await api("PATCH", path, { configuration: { "event.poller.wakeup": on } });
          toast(on ? "Wake on change turned on: store changes now start a poll." : "Wake on change turned off.");
          refresh();
        } catch (err) {
          input.checked = !on;
          reportError(err, "Wake on change was not changed");
        }
      });
    });
    return h(
      "span",
      { class: "switch", title: "BigCommerce webhooks start a poll within seconds; the schedule stays the safety net" },
      input,
      h("label", { for: input.id }, "Wake on change"),
    );
  }

  /** The store's hooks as the last check saw them (status.wakeup), or nothing when off. */
  function renderWakeup(status) {
    const wake = status.wakeup;
    if (!wake) return h("div", { class: "wakeup" });
    const hooks = wake.hooks || [];
    return h(
      "div",
      { class: "wakeup" },
      h("h3", {}, "Wake on change"),
      h(
        "dl",
        { class: "facts stats" },
        fact("Route", wake.enabled ? badge("accepting hooks", "ok") : badge("off (events off)", "muted")),
        fact("Hooks checked", formatTime(wake.checkedAt)),
        wake.pending ? fact("Woken poll", badge("running or waiting", "warn")) : null,
        wake.error ? fact("Hook error", h("span", { class: "error-text" }, wake.error)) : null,
      ),
      hooks.length
        ? h(
            "ul",
            { class: "hooks" },
            hooks.map((hook) =>
              h("li", { dataset: { hook: String(hook.id) } }, h("code", {}, hook.scope), " ", hook.active ? badge("active", "ok") : badge("inactive", "warn")),
            ),
          )
        : h("p", { class: "empty" }, "No hook registered on the store."),
    );
  }

  function refreshText(instance) {
    return `every ${instance.refreshInterval} min`;
  }

  function fact(label, value) {
    return h("div", {}, h("dt", {}, label), h("dd", {}, value));
  }

  function renderStatus(status) {
    const c = counts24h(status);
    const summary = h(
      "dl",
      { class: "facts stats" },
      fact("Authentication", authBadge(status.authState)),
      status.authError ? fact("Auth error", status.authError) : null,
      fact("Delivered (24 h)", h("strong", { class: "delivered-24h" }, formatCount(c.delivered))),
      fact("Failed (24 h)", h("strong", { class: "failed-24h" }, formatCount(c.failed))),
    );
    const resources = resourceStatuses(status);
    if (!resources.length) return h("div", {}, summary, h("p", { class: "empty" }, "No resource has been polled yet."));
    const table = h(
      "table",
      { class: "grid", "aria-label": "Status per resource" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Resource", "Cursor", "Last poll start", "Last poll end", "Records read", "Events emitted", "Last error"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        resources.map(([name, r]) =>
          h(
            "tr",
            { dataset: { resource: name } },
            h("th", { scope: "row", "data-label": "Resource" }, name, unreadableNote(r)),
            h("td", { "data-label": "Cursor" }, formatTime(r.cursor)),
            h("td", { "data-label": "Last poll start" }, formatTime(r.lastPollStart)),
            h("td", { "data-label": "Last poll end" }, formatTime(r.lastPollEnd)),
            h("td", { "data-label": "Records read", class: "num" }, formatCount(r.recordsRead)),
            h("td", { "data-label": "Events emitted", class: "num" }, formatCount(r.eventsEmitted)),
            h("td", { "data-label": "Last error", class: r.lastError ? "error-text" : "" }, r.lastError || "—"),
          ),
        ),
      ),
    );
    // What "last poll" promises (README "Status"): quiet polls write nothing but a heartbeat.
    const freshness = h(
      "p",
      { class: "hint freshness" },
      "A poll that finds changes or errors shows here at once; quiet polls are confirmed at least every 15 minutes.",
    );
    return h("div", {}, summary, h("div", { class: "table-wrap" }, table), freshness);
  }

  // ---------------------------------------------------------------- health: dead letters, unreadable records, charts

  /** Beside a resource: the records its latest poll read but could not turn into events. */
  function unreadableNote(r) {
    if (!r.unreadable) return null;
    return h(
      "span",
      { class: "unreadable", dataset: { unreadable: String(r.unreadable) } },
      badge(`${r.unreadable} unreadable`, "warn"),
      r.unreadableReason ? h("span", { class: "unreadable-reason" }, r.unreadableReason) : null,
    );
  }

  /** Dead letters (with the Redrive button) and the two charts, under the status table. */
  function renderHealth(status, path, refresh) {
    const dead = Number(status.deadLettered || 0);
    const redrive = h("button", { type: "button", class: "small", hidden: Boolean(storeSession()) }, "Redrive");
    redrive.addEventListener("click", () => confirmRedrive(path, dead, redrive, refresh));
    const deadFact = h(
      "dl",
      { class: "facts stats" },
      fact(
        "Dead-lettered",
        h("span", { class: "dead-row" }, h("strong", { class: "dead-lettered" }, formatCount(dead)), redrive),
      ),
    );
    return h(
      "div",
      { class: "health" },
      deadFact,
      h(
        "div",
        { class: "charts" },
        h(
          "figure",
          { class: "chart" },
          h(
            "figcaption",
            {},
            "Events per hour, last 24 h ",
            h("span", { class: "key key-delivered" }, "delivered"),
            " ",
            h("span", { class: "key key-failed" }, "failed"),
          ),
          hourlyChart(status.last24h?.hours || [])),
        h("figure", { class: "chart" }, h("figcaption", {}, "Cursor age per resource"), cursorAgeChart(resourceStatuses(status))),
      ),
    );
  }

  const SVG_NS = "http://www.w3.org/2000/svg";

  /** An SVG element: attributes only (presentation, no style attribute: the page's CSP). */
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(key, String(value));
    }
    append(el, children);
    return el;
  }

  /** Delivered (below) and failed (stacked above) per hour, from status.last24h.hours. */
  function hourlyChart(hours) {
    const width = 600;
    const height = 160;
    const top = 16;
    const bottom = 22;
    const plot = height - top - bottom;
    const max = Math.max(1, ...hours.map((row) => (row.delivered || 0) + (row.failed || 0)));
    const slot = width / Math.max(1, hours.length);
    const bars = [];
    hours.forEach((row, i) => {
      const hour = new Date(row.hour);
      const label = Number.isNaN(hour.getTime()) ? String(row.hour) : hour.toISOString().slice(0, 13) + ":00Z";
      let y = top + plot;
      for (const kind of ["delivered", "failed"]) {
        const count = row[kind] || 0;
        const tall = (count / max) * plot;
        y -= tall;
        bars.push(
          svg(
            "rect",
            {
              class: `bar bar-${kind}`,
              x: (i * slot + 1).toFixed(1),
              y: y.toFixed(1),
              width: Math.max(1, slot - 2).toFixed(1),
              height: tall.toFixed(1),
              dataset: { hour: label, kind, count: String(count) },
            },
            svg("title", {}, `${label}: ${count} ${kind}`),
          ),
        );
      }
    });
    const ticks = hours
      .map((row, i) => [row, i])
      .filter(([, i]) => i % 6 === 0 && i < hours.length - 2)
      .map(([row, i]) =>
        svg("text", { class: "axis", x: (i * slot + 1).toFixed(1), y: height - 6 }, String(row.hour).slice(11, 13) + ":00"),
      );
    const total = (kind) => hours.reduce((sum, row) => sum + (row[kind] || 0), 0);
    return svg(
      "svg",
      {
        class: "chart-svg hourly-chart",
        viewBox: `0 0 ${width} ${height}`,
        role: "img",
        "aria-label": `Events per hour over the last 24 hours: ${total("delivered")} delivered, ${total("failed")} failed; tallest hour ${max}`,
      },
      svg("line", { class: "baseline", x1: 0, y1: top + plot, x2: width, y2: top + plot }),
      // The height of the busiest hour: every bar is count / max of the distance between.
      svg("line", { class: "topline", x1: 0, y1: top, x2: width, y2: top, dataset: { max: String(max) } }),
      bars,
      ticks,
      svg("text", { class: "axis", x: width - 4, y: 10, "text-anchor": "end" }, `max ${max}/h`),
    );
  }


  /** How far behind each resource's cursor is (the newest change it emitted), now. */
  function cursorAgeChart(resources, now = Date.now()) {
    const rows = resources.map(([name, r]) => {
      const at = r.cursor ? new Date(r.cursor).getTime() : NaN;
      return { name, age: Number.isNaN(at) ? null : Math.max(0, (now - at) / 1000) };
    });
    const width = 600;
    const rowHeight = 24;
    const labelWidth = 140;
    const height = Math.max(1, rows.length) * rowHeight + 8;
    const max = Math.max(1, ...rows.map((row) => row.age || 0));
    const children = rows.map((row, i) => {
      const y = 4 + i * rowHeight;
      const long = row.age === null ? 0 : (row.age / max) * (width - labelWidth - 110);
      return svg(
        "g",
        { class: "cursor-row" },
        svg("text", { class: "axis", x: 0, y: y + 15 }, row.name),
        svg(
          "rect",
          {
            class: "bar bar-age",
            x: labelWidth,
            y: y + 4,
            width: long.toFixed(1),
            height: rowHeight - 8,
            dataset: { resource: row.name, ageSeconds: row.age === null ? "" : String(Math.round(row.age)) },
          },
          svg("title", {}, `${row.name}: ${row.age === null ? "no cursor yet" : formatAge(row.age)}`),
        ),
        svg("text", { class: "axis", x: labelWidth + long + 6, y: y + 15 }, row.age === null ? "no cursor yet" : formatAge(row.age)),
      );
    });
    return svg(
      "svg",
      {
        class: "chart-svg cursor-chart",
        viewBox: `0 0 ${width} ${height}`,
        role: "img",
        "aria-label": rows.length
          ? `Cursor age: ${rows.map((row) => `${row.name} ${row.age === null ? "none" : formatAge(row.age)}`).join(", ")}`
          : "No cursor yet",
      },
      children,
    );
  }

  function formatAge(seconds) {
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  function confirmRedrive(path, dead, opener, refresh) {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "redrive-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "redrive-title" }, "Redrive dead-lettered events?"),
        h(
          "p",
          {},
          `${dead} event(s) of this instance gave up after every delivery attempt. They are sent to the callback again; ` +
            "events already delivered are not sent twice, and other instances' events stay where they are.",
        ),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", autofocus: true }, "Cancel"),
          h("button", { value: "redrive", class: "primary" }, "Redrive"),
        ),
      ),
    );
    dialog.addEventListener("close", async () => {
      dialog.remove();
      if (dialog.returnValue !== "redrive") {
        opener.focus();
        return;
      }
      await whileBusy(opener, async () => {
        try {
          const result = await api("POST", `${path}/events/redrive`, {});
          const more = result?.complete === false ? " More remain: redrive again." : "";
          toast(`${result?.moved ?? 0} event(s) sent again, ${result?.left ?? 0} left in the DLQ.${more}`);
          refresh();
        } catch (err) {
          reportError(err, "Redrive failed");
        }
      });
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  function confirmDelete(instance, path, opener) {
    const name = instance.name || instance.id;
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, `Delete “${name}”?`),
        h("p", {}, "Polling stops and the instance, its schedule and its event log are removed. This cannot be undone."),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", autofocus: true }, "Cancel"),
          h("button", { value: "delete", class: "danger" }, "Delete instance"),
        ),
      ),
    );
    dialog.addEventListener("close", async () => {
      dialog.remove();
      if (dialog.returnValue !== "delete") {
        opener.focus();
        return;
      }
      try {
        await api("DELETE", path);
        toast(`Instance “${name}” deleted.`);
        window.location.hash = "#/";
      } catch (err) {
        reportError(err, "Delete failed");
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  // ---------------------------------------------------------------- event log (the inspector)

  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  // A search or filter that finds nothing in one answer follows its token this many times
  // before saying "nothing in the part searched so far" (with a button to go on).
  const SEARCH_FOLLOW = 10;

  function copyButton(label, value) {
    const button = h("button", { type: "button", class: "small copy", "aria-label": `Copy ${label}` }, "Copy");
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(value);
        toast(`${label} copied.`);
      } catch {
        toast("Copy is not allowed here: select the text and press Ctrl+C.");
      }
    });
    return button;
  }

  function eventLog(instancePath, gen, focusEventId) {
    const instanceHash = `#/${instancePath}`;
    const search = field({
      label: "Object or event id",
      name: "q",
      type: "search",
      hint: "An object id (order 105: 105) or an event id; searches the whole log.",
      value: focusEventId || "",
    });
    const statusFilter = field({
      label: "Event status",
      name: "status",
      type: "select",
      options: [["", "Any"], ...EVENT_STATUSES.map((s) => [s, s])],
    });
    const since = field({ label: "Since", name: "since", type: "datetime-local" });
    const until = field({ label: "Until", name: "until", type: "datetime-local" });
    const limit = field({ label: "Per page", name: "limit", type: "number", value: 25, min: 1, max: 100 });
    const filters = h(
      "form",
      { class: "filters", "aria-label": "Event filters", role: "search" },
      search.wrap,
      statusFilter.wrap,
      since.wrap,
      until.wrap,
      limit.wrap,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Search")),
    );
    // A store user's session reads only: no replay or retry (the API would refuse them).
    const replayButton = h("button", { type: "button", hidden: Boolean(storeSession()) }, "Replay failed…");
    const body = h("tbody", {});
    const table = h(
      "table",
      { class: "grid events", "aria-label": "Events" },
      h(
        "thead",
        {},
        h("tr", {}, ["Created", "Change", "Object", "Status", "Attempts", "Actions"].map((t) => h("th", { scope: "col" }, t))),
      ),
      body,
    );
    const empty = h("p", { class: "empty", hidden: true }, "No events match.");
    const partial = h("p", { class: "hint partial", hidden: true });
    const more = h("button", { type: "button", hidden: true }, "Load more");
    const fresh = h("button", { type: "button", class: "new-events", hidden: true });
    const section = h(
      "section",
      { "aria-labelledby": "events-title" },
      h("div", { class: "section-head" }, h("h2", { id: "events-title" }, "Event log"), replayButton),
      filters,
      h("div", { class: "notice-slot", "aria-live": "polite" }, fresh),
      h("div", { class: "table-wrap" }, table),
      empty,
      partial,
      more,
    );
    const expanded = new Set(focusEventId ? [focusEventId] : []);
    const bodies = new Map();
    const shown = new Map(); // eventId -> { event, row, detailRow }
    let nextToken = null;
    let requestSeq = 0; // answers to an older request than the latest reload are dropped
    let applied = ""; // the query the rows on screen answer

    const searchText = () => search.input.value.trim();
    const query = (token) => {
      const params = new URLSearchParams();
      const text = searchText();
      if (text) params.set("objectId", text);
      if (statusFilter.input.value) params.set("status", statusFilter.input.value);
      if (since.input.value) params.set("since", new Date(since.input.value).toISOString());
      if (until.input.value) params.set("until", new Date(until.input.value).toISOString());
      if (limit.input.value) params.set("limit", limit.input.value);
      if (token) params.set("nextToken", token);
      return `${instancePath}/events?${params}`;
    };

    /** A page, following tokens while the answers hold no event (a filter or search
     * that read only part of the log says so with a token; it is never "nothing"). */
    async function fetchPage(token) {
      let data = await api("GET", query(token));
      for (let i = 0; i < SEARCH_FOLLOW && !(data?.events || []).length && data?.nextToken; i++) {
        data = await api("GET", query(data.nextToken));
      }
      return data;
    }

    async function reload() {
      const seq = ++requestSeq;
      const asked = query(null);
      try {
        const text = searchText();
        let data;
        if (UUID_RE.test(text)) {
          // An event id: its own item, one read. An object id that looks like one falls through.
          try {
            const event = await api("GET", `${instancePath}/events/${encodeURIComponent(text)}`);
            data = { events: event ? [event] : [], nextToken: null };
            expanded.add(text);
          } catch (err) {
            if (err.status !== 404) throw err;
          }
        }
        if (!data) data = await fetchPage(null);
        if (!isCurrent(gen) || seq !== requestSeq) return;
        const focused = body.contains(document.activeElement) ? document.activeElement : null;
        const focusRow = focused?.closest("tr[data-event-id]")?.dataset.eventId;
        const focusAction = focused?.dataset.action;
        body.replaceChildren();
        shown.clear();
        fresh.hidden = true;
        applied = asked;
        addRows(data);
        if (focusRow) restoreFocus(focusRow, focusAction);
      } catch (err) {
        if (isCurrent(gen) && seq === requestSeq) reportError(err, "The event log did not load");
      }
    }

    /** The auto-refresh: rows on screen change in place (status, attempts), pages loaded
     * with "Load more" and opened rows stay; events newer than the list are announced,
     * not pushed in under the reader. */
    async function refresh() {
      if (!applied) return reload();
      const seq = requestSeq;
      const asked = applied;
      let data;
      try {
        data = await api("GET", asked);
      } catch {
        return; // the next tick tries again; the rows on screen stay as they are
      }
      if (!isCurrent(gen) || seq !== requestSeq || asked !== applied) return;
      let newer = 0;
      const newest = firstShownCreated();
      for (const event of data?.events || []) {
        const old = shown.get(event.eventId);
        if (old) {
          if (JSON.stringify(old.event) !== JSON.stringify(event)) replaceRows(event);
        } else if (!newest || String(event.createdAt) >= newest) {
          newer += 1;
        }
      }
      if (newer) {
        const all = (data?.events || []).length;
        fresh.textContent = `${newer}${newer === all && data?.nextToken ? "+" : ""} new event${newer === 1 ? "" : "s"}: show them`;
        fresh.hidden = false;
      } else {
        fresh.hidden = true;
      }
      if (!shown.size && (data?.events || []).length) {
        addRows(data);
        fresh.hidden = true;
      }
    }

    function firstShownCreated() {
      let newest = "";
      for (const { event } of shown.values()) if (String(event.createdAt) > newest) newest = String(event.createdAt);
      return newest;
    }

    function restoreFocus(eventId, action) {
      const row = body.querySelector(`tr[data-event-id="${CSS.escape(eventId)}"]`);
      const target = row?.querySelector(`button[data-action="${action}"]`) || row?.querySelector("button");
      if (target) target.focus();
    }

    function replaceRows(event) {
      const old = shown.get(event.eventId);
      const focused = old.row.contains(document.activeElement) ? document.activeElement?.dataset.action : null;
      const [row, detailRow] = eventRows(event);
      old.row.replaceWith(row);
      old.detailRow.replaceWith(detailRow);
      if (focused) restoreFocus(event.eventId, focused);
    }

    function addRows(data) {
      const events = data?.events || [];
      nextToken = data?.nextToken || null;
      for (const event of events) {
        if (shown.has(event.eventId)) replaceRows(event);
        else body.append(...eventRows(event));
      }
      const none = body.children.length === 0;
      empty.hidden = !none || Boolean(nextToken);
      partial.hidden = !(none && nextToken);
      partial.textContent = none && nextToken ? "Nothing found in the part of the log searched so far: search further to read on." : "";
      more.textContent = none && nextToken ? "Search further" : "Load more";
      more.hidden = !nextToken;
    }

    function eventRows(event) {
      const id = event.eventId;
      const attempts = Array.isArray(event.attempts) ? event.attempts : [];
      const detailsId = `attempts-${id}`;
      const detailCell = h("td", { colspan: 6 });
      const detailRow = h("tr", { class: "attempts-row", id: detailsId, hidden: true }, detailCell);
      const toggle = h(
        "button",
        {
          type: "button",
          class: "small",
          "aria-expanded": "false",
          "aria-controls": detailsId,
          "aria-label": `Details of event ${id}`,
          dataset: { action: "attempts" },
        },
        "Details",
      );
      const show = async (open) => {
        toggle.setAttribute("aria-expanded", String(open));
        detailRow.hidden = !open;
        if (open) expanded.add(id);
        else expanded.delete(id);
        if (!open) return;
        // The list already carries the attempts; the event's body comes once from its detail.
        detailCell.replaceChildren(renderAttempts(event, bodies.get(id), instanceHash));
        if (bodies.has(id)) return;
        try {
          const detail = await api("GET", `${instancePath}/events/${encodeURIComponent(id)}`);
          bodies.set(id, detail?.body ?? null);
          if (!detailRow.hidden) detailCell.replaceChildren(renderAttempts(detail || event, bodies.get(id), instanceHash));
        } catch (err) {
          detailCell.append(h("p", { class: "form-error" }, `Event detail: ${err.message}`));
        }
      };
      toggle.addEventListener("click", () => show(toggle.getAttribute("aria-expanded") !== "true"));
      const link = h(
        "a",
        { href: `${instanceHash}/events/${encodeURIComponent(id)}`, class: "small event-link", "aria-label": `Link to event ${id}` },
        "Link",
      );
      const actions = h("td", { "data-label": "Actions", class: "row-actions" }, toggle, link);
      if (event.status === "failed" && !storeSession()) {
        const retry = h(
          "button",
          { type: "button", class: "small", "aria-label": `Retry event ${id}`, dataset: { action: "retry" } },
          "Retry",
        );
        retry.addEventListener("click", () =>
          whileBusy(retry, async () => {
            try {
              await api("POST", `${instancePath}/events/${encodeURIComponent(id)}/retry`);
              toast("Event queued for another delivery.");
              // In place: the retried event keeps its row (and the reader their place).
              replaceRows({ ...event, status: "queued", nextAttemptAt: null });
            } catch (err) {
              reportError(err, "Retry failed");
            }
          }),
        );
        actions.append(retry);
      }
      const statusKind = { delivered: "ok", failed: "bad", retrying: "warn" }[event.status] || "muted";
      const statusCell = h("td", { "data-label": "Status", class: "status" }, badge(event.status || "unknown", statusKind));
      if (event.status === "retrying" && event.nextAttemptAt) {
        statusCell.append(" ", h("span", { class: "hint next-attempt" }, "next ", formatTime(event.nextAttemptAt)));
      }
      const row = h(
        "tr",
        { dataset: { eventId: id, status: event.status || "" } },
        h("td", { "data-label": "Created" }, formatTime(event.createdAt)),
        h("td", { "data-label": "Change" }, event.eventType || "—"),
        h("td", { "data-label": "Object", class: "object" }, `${event.objectType || "?"} ${event.objectId ?? ""}`.trim()),
        statusCell,
        h("td", { "data-label": "Attempts", class: "num attempts" }, String(event.attemptCount ?? attempts.length)),
        actions,
      );
      shown.set(id, { event, row, detailRow });
      if (expanded.has(id)) show(true);
      return [row, detailRow];
    }

    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      reload();
    });
    fresh.addEventListener("click", () => reload());
    more.addEventListener("click", () =>
      whileBusy(more, async () => {
        const seq = requestSeq;
        try {
          const data = await fetchPage(nextToken);
          if (isCurrent(gen) && seq === requestSeq) addRows(data);
        } catch (err) {
          reportError(err, "More events did not load");
        }
      }),
    );
    replayButton.addEventListener("click", () => confirmReplay(instancePath, since.input.value, until.input.value, replayButton, reload));
    return { section, reload, refresh };
  }

  /** Bulk replay says what it will do, for the range on screen, before doing it. */
  function confirmReplay(instancePath, sinceValue, untilValue, opener, done) {
    const range = {};
    if (sinceValue) range.since = new Date(sinceValue).toISOString();
    if (untilValue) range.until = new Date(untilValue).toISOString();
    const from = range.since ? absoluteTime(new Date(range.since)) : "the oldest event kept";
    const to = range.until ? absoluteTime(new Date(range.until)) : "now";
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "replay-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "replay-title" }, "Replay failed events?"),
        h("p", { class: "replay-range" }, `Every failed event created from ${from} to ${to} is queued for delivery again, with its own event id.`),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", autofocus: true }, "Cancel"),
          h("button", { value: "replay" }, "Replay failed events"),
        ),
      ),
    );
    dialog.addEventListener("close", async () => {
      dialog.remove();
      if (dialog.returnValue !== "replay") {
        opener.focus();
        return;
      }
      try {
        const result = await api("POST", `${instancePath}/events/replay`, range);
        toast(`${result?.replayed ?? 0} failed event(s) queued again.`);
        await done();
      } catch (err) {
        reportError(err, "Replay failed");
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  /** A new signing secret, shown once; the old one keeps signing for 24 h. */
  function confirmRotate(path, opener) {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "rotate-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "rotate-title" }, "Rotate the signing secret?"),
        h(
          "p",
          {},
          "A new secret is made and shown once. For 24 hours every delivery carries a signature by the old and by the new secret (webhook-signature lists both), so update your receiver within that time; then only the new one signs.",
        ),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", autofocus: true }, "Cancel"),
          h("button", { value: "rotate" }, "Rotate"),
        ),
      ),
    );
    dialog.addEventListener("close", async () => {
      dialog.remove();
      if (dialog.returnValue !== "rotate") {
        opener.focus();
        return;
      }
      try {
        const rotated = await api("POST", `${path}/signing-secret/rotate`);
        const until = rotated?.previousValidUntil ? absoluteTime(new Date(rotated.previousValidUntil)) : null;
        const shownOnce = h(
          "dialog",
          { class: "confirm", "aria-labelledby": "rotated-title" },
          h(
            "form",
            { method: "dialog" },
            h("h2", { id: "rotated-title" }, "New signing secret"),
            h("p", {}, "Shown only now: copy it into your receiver."),
            h("dl", { class: "secrets" }, copyRow("Signing secret", rotated.signingSecret)),
            until ? h("p", { class: "hint" }, `The old secret signs too until ${until}.`) : null,
            h("div", { class: "actions" }, h("button", { value: "close", autofocus: true }, "Done")),
          ),
        );
        shownOnce.addEventListener("close", () => {
          shownOnce.remove();
          opener.focus();
        });
        document.body.append(shownOnce);
        shownOnce.showModal();
      } catch (err) {
        reportError(err, "The signing secret was not rotated");
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  function renderAttempts(event, body, instanceHash) {
    const attempts = Array.isArray(event.attempts) ? event.attempts : [];
    const link = instanceHash ? `${instanceHash}/events/${encodeURIComponent(event.eventId)}` : null;
    const facts = h(
      "dl",
      { class: "facts" },
      fact("Event id", h("span", {}, h("code", {}, String(event.eventId)), " ", copyButton("Event id", String(event.eventId)))),
      link ? fact("Link", h("span", {}, h("a", { href: link }, "This event"), " ", copyButton("Link", new URL(link, window.location.href).href))) : null,
      fact("Object", h("span", {}, h("code", {}, `${event.objectType || "?"} ${event.objectId ?? ""}`.trim()), " ", copyButton("Object id", String(event.objectId ?? "")))),
      fact("Changed at", formatTime(event.changedAt)),
      event.status === "retrying" ? fact("Next attempt", formatTime(event.nextAttemptAt)) : null,
      event.status === "retrying" ? fact("Note", "Retrying is not failed: it counts as failed only once the retries run out.") : null,
      event.lastError ? fact("Last error", event.lastError) : null,
    );
    const lastResponse = event.lastResponse
      ? h("details", { class: "last-response" }, h("summary", {}, "The receiver's last refusal (first 2 KB of its answer)"), h("pre", {}, event.lastResponse))
      : null;
    const table = attempts.length
      ? h(
          "table",
          { class: "grid inner", "aria-label": "Delivery attempts" },
          h("thead", {}, h("tr", {}, ["At", "HTTP status", "Latency", "Error", "Request headers"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            attempts.map((a) =>
              h(
                "tr",
                {},
                h("td", { "data-label": "At" }, formatTime(a.at)),
                h("td", { "data-label": "HTTP status" }, formatCount(a.statusCode)),
                h("td", { "data-label": "Latency", class: "num" }, a.latencyMs === undefined || a.latencyMs === null ? "—" : `${Math.round(a.latencyMs)} ms`),
                h("td", { "data-label": "Error", class: a.error ? "error-text" : "" }, a.error || "—"),
                h("td", { "data-label": "Request headers" }, requestHeaders(event, a)),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, "Not attempted yet.");
    const shownBody =
      body === undefined || body === null
        ? null
        : h(
            "details",
            { class: "event-body" },
            h("summary", {}, "Callback body"),
            copyButton("Callback body", typeof body === "string" ? body : JSON.stringify(body)),
            h("pre", {}, typeof body === "string" ? body : JSON.stringify(body, null, 2)),
          );
    return h("div", { class: "attempts" }, facts, table, lastResponse, shownBody);
  }

  /** The headers every attempt sends (the signatures are per attempt and not kept; the
   * secrets never leave the server). */
  function requestHeaders(event, attempt) {
    const at = attempt.at ? Math.floor(new Date(attempt.at).getTime() / 1000) : null;
    const lines = [
      "Content-Type: application/json",
      `webhook-id: ${event.eventId}`,
      at ? `webhook-timestamp: ${at} (about)` : null,
      "webhook-signature: v1,… (one per signing secret; a rotation's overlap lists two)",
      `Elements-Webhook-Id: ${event.eventId}`,
      "Elements-Webhook-Signature: sha256=… (when a signature key is set)",
    ].filter(Boolean);
    return h("details", {}, h("summary", {}, "Headers"), h("pre", {}, lines.join("\n")));
  }

  // ---------------------------------------------------------------- BigCommerce app

  function installBadge(state) {
    return badge(state, state === "installed" ? "ok" : "bad");
  }

  /** The create form's "OAuth app" choice: stores install the app from their control panel. */
  function oauthAppNote(editing, config) {
    if (editing) {
      return h(
        "div",
        { class: "cred-group oauth-note" },
        h("p", {}, `Installed from BigCommerce (store ${config["store.hash"] || "?"}): the credentials come from the install and stay as they are.`),
      );
    }
    return h(
      "div",
      { class: "cred-group oauth-note" },
      h(
        "p",
        {},
        "Merchants install your BigCommerce app from their control panel; each install creates its store's instance. Register the app once and paste its callback URLs into BigCommerce's Developer Portal.",
      ),
      h("a", { class: "button", href: "#/app" }, "Set up the BigCommerce app"),
    );
  }

  function copyRow(label, value) {
    const out = h("code", { class: "url" }, value);
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(value);
        toast(`${label} copied.`);
      } catch {
        window.getSelection().selectAllChildren(out);
        toast("Selected: press Ctrl+C to copy.");
      }
    };
    return h(
      "div",
      { class: "url-row", dataset: { url: label } },
      h("dt", {}, label),
      h("dd", {}, out, h("button", { type: "button", class: "small", "aria-label": `Copy ${label}`, onclick: copy }, "Copy")),
    );
  }

  async function viewApp() {
    const gen = generation;
    const title = "BigCommerce app";
    view(title, h("h1", {}, title), h("p", { class: "loading" }, "Loading…"));
    let app = null;
    let catalog = [];
    try {
      [catalog, app] = await Promise.all([
        loadCatalog().catch((err) => {
          toast(`The resource catalog did not load: ${err.message}`, "error");
          return [];
        }),
        api("GET", "app").catch((err) => {
          if (err.status === 404) return null; // not registered yet
          throw err;
        }),
      ]);
    } catch (err) {
      if (!isCurrent(gen)) return;
      view(title, h("h1", {}, title), h("p", { class: "form-error", role: "alert" }, err.message));
      return;
    }
    if (!isCurrent(gen)) return;

    const clientId = field({ label: "Client ID", name: "clientId", apiField: "clientId", value: app?.clientId ?? "", autocomplete: "off", required: true });
    const clientSecret = field({
      label: "Client secret",
      name: "clientSecret",
      type: "password",
      apiField: "clientSecret",
      hint: app ? "Leave blank to keep the current value." : "From the app's page in BigCommerce's Developer Portal.",
      autocomplete: "off",
    });
    const callback = field({
      label: "Callback URL for events",
      name: "app-callback",
      type: "url",
      apiField: "callbackUrl",
      value: app?.callbackUrl ?? "",
      hint: "Where installed stores' events are POSTed (https). Without one, installs start with events off.",
    });
    const refresh = field({
      label: "Refresh interval (minutes)",
      name: "app-refresh",
      type: "number",
      apiField: "refreshInterval",
      value: app?.refreshInterval ?? "",
      hint: "Blank uses the default.",
      min: 1,
      step: 1,
      inputmode: "numeric",
    });
    const chosen = new Set(app?.resources || ["orders"]);
    const resources = h(
      "fieldset",
      { class: "resources", dataset: { field: "resources" } },
      h("legend", {}, "Resources each install polls"),
      catalog.map((entry) => {
        const check = field({ label: entry.name, name: `app-resource-${entry.name}`, type: "checkbox", value: chosen.has(entry.name), hint: entry.description || undefined });
        check.input.dataset.resource = entry.name;
        return check.wrap;
      }),
      h("p", { class: "field-error" }),
    );
    const summary = h("div", { class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
    const submit = h("button", { type: "submit", class: "primary" }, app ? "Save app" : "Register app");
    const form = h(
      "form",
      { class: "card app-form", novalidate: true, "aria-label": "App registration" },
      summary,
      h("fieldset", {}, h("legend", {}, "The app in BigCommerce's Developer Portal"), clientId.wrap, clientSecret.wrap),
      h("fieldset", {}, h("legend", {}, "What each install gets"), callback.wrap, refresh.wrap),
      resources,
      h("div", { class: "actions" }, submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const picked = [...resources.querySelectorAll("input[data-resource]")].filter((c) => c.checked).map((c) => c.dataset.resource);
      const local = [];
      if (!clientId.input.value.trim()) local.push({ field: "clientId", problem: "is required" });
      if (!app && !clientSecret.input.value) local.push({ field: "clientSecret", problem: "is required the first time" });
      if (!picked.length) local.push({ field: "resources", problem: "tick at least one resource to poll" });
      if (local.length) {
        showErrors(form, summary, local);
        return;
      }
      const minutes = refresh.input.value.trim();
      const body = {
        clientId: clientId.input.value.trim(),
        callbackUrl: callback.input.value.trim(),
        resources: picked,
        refreshInterval: minutes === "" ? null : Number(minutes),
      };
      if (clientSecret.input.value) body.clientSecret = clientSecret.input.value;
      await whileBusy(submit, async () => {
        try {
          await api("PUT", "app", body);
          toast(app ? "App saved." : "App registered.");
          route();
        } catch (err) {
          showErrors(form, summary, err.errors, err.message);
        }
      });
    });

    const sections = [];
    if (app) {
      sections.push(
        h(
          "section",
          { "aria-labelledby": "urls-title" },
          h("h2", { id: "urls-title" }, "Callback URLs"),
          h("p", { class: "hint" }, "Paste these into the app's Technical tab in BigCommerce's Developer Portal."),
          h(
            "dl",
            { class: "facts urls" },
            copyRow("Auth callback URL", app.authCallbackUrl),
            copyRow("Load callback URL", app.loadCallbackUrl),
            copyRow("Uninstall callback URL", app.uninstallCallbackUrl),
            copyRow("Remove user callback URL", app.removeUserCallbackUrl),
          ),
          h(
            "p",
            { class: "events-on-install" },
            app.eventsOnInstall
              ? `New installs start with events on, sent to ${app.callbackUrl}.`
              : "New installs start with events off until a callback URL is set here (or on the instance).",
          ),
        ),
      );
      const stores = app.stores || [];
      sections.push(
        h(
          "section",
          { "aria-labelledby": "stores-title" },
          h("h2", { id: "stores-title" }, "Installed stores"),
          stores.length
            ? h(
                "div",
                { class: "table-wrap" },
                h(
                  "table",
                  { class: "grid stores", "aria-label": "Installed stores" },
                  h("thead", {}, h("tr", {}, ["Store", "Status", "Installed", "Uninstalled", "Instance"].map((t) => h("th", { scope: "col" }, t)))),
                  h(
                    "tbody",
                    {},
                    stores.map((s) =>
                      h(
                        "tr",
                        { dataset: { storeHash: s.storeHash } },
                        h("th", { scope: "row", "data-label": "Store" }, s.storeHash),
                        h("td", { "data-label": "Status", class: "status" }, installBadge(s.status)),
                        h("td", { "data-label": "Installed" }, formatTime(s.installedAt)),
                        h("td", { "data-label": "Uninstalled" }, formatTime(s.uninstalledAt)),
                        h("td", { "data-label": "Instance" }, h("a", { href: `#/instances/${encodeURIComponent(s.instanceId)}` }, "Open")),
                      ),
                    ),
                  ),
                ),
              )
            : h("p", { class: "empty" }, "No store has installed the app yet."),
        ),
      );
    }
    view(title, h("h1", {}, title), form, sections);
  }

  // ---------------------------------------------------------------- start

  document.getElementById("sign-out").addEventListener("click", () => {
    session.clear();
    window.location.hash = "#/signin";
    route();
  });
  document.getElementById("skip-link").addEventListener("click", (event) => {
    // The hash is the router's; move focus without touching it.
    event.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", route);
  route();
})();
