// The resplay web console. It talks to the same JSON API as `resplay ctl`
// (GET /status, POST /mode, /faults, /publish, /invalidate, POST /reset)
// and reads the live tail from GET /events with fetch() and a stream
// reader, so that every request can carry `Authorization: Bearer TOKEN`
// when the API asks for one. Data is only ever put in the page as text.
"use strict";
(() => {
  const TOKEN_KEY = "resplay-admin-token";
  const MAX_EVENTS = 500;
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // ---- the token: asked for once when the API answers 401 ----

  let tokenWait = null;

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function headers(extra) {
    const h = Object.assign({ Accept: "application/json" }, extra || {});
    const t = token();
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  // Resolves once the user gave a token. Every request refused meanwhile
  // waits for the same answer: the form shows once.
  function askToken(refused) {
    if (tokenWait) return tokenWait;
    tokenWait = new Promise((resolve) => {
      const dialog = $("token-dialog");
      $("token-wrong").hidden = !refused;
      $("token").value = "";
      $("token-form").onsubmit = (e) => {
        e.preventDefault();
        const value = $("token").value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        dialog.close();
        tokenWait = null;
        resolve();
      };
      // Without a token nothing works: Escape does not close the form.
      dialog.oncancel = (e) => e.preventDefault();
      dialog.showModal();
      $("token").focus();
    });
    return tokenWait;
  }

  // One request to the JSON API; the answer's JSON, or an ApiError with
  // the API's own message.
  async function api(method, path, body) {
    for (;;) {
      const sent = token();
      const write = method !== "GET";
      const init = {
        method,
        cache: "no-store",
        headers: headers(write ? { "Content-Type": "application/json" } : {}),
      };
      if (body !== undefined) init.body = JSON.stringify(body);
      const res = await fetch(path, init);
      if (res.status === 401) {
        await askToken(Boolean(sent));
        continue;
      }
      const text = await res.text();
      let data = null;
      if (text) {
        try {
          data = JSON.parse(text);
        } catch (_) {
          data = text;
        }
      }
      if (!res.ok) {
        const message = data && data.error ? data.error : text || res.statusText;
        throw new ApiError(res.status, res.status + ": " + message);
      }
      return data;
    }
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function show(el, text, failed) {
    el.textContent = text;
    el.classList.toggle("failed", Boolean(failed));
  }

  function setLink(up, why) {
    const link = $("link");
    link.className = "link " + (up ? "up" : "down");
    link.textContent = up ? "connected" : "not connected";
    link.title = why || "";
  }

  // ---- status ----

  function duration(ms) {
    if (ms < 1000) return ms + " ms";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + (s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  let modeChosen = false;

  function renderStatus(s) {
    const mode = s.switching_to ? s.mode + " → " + s.switching_to : s.mode;
    $("st-mode").textContent = mode;
    $("st-cassette").textContent = s.cassette || "–";
    $("st-connections").textContent = String(s.connections);
    $("st-mode-ms").textContent = duration(s.mode_ms);
    const fields = {
      record: ["recorded"],
      replay: ["served", "missed", "unused"],
      passed: ["passed_through"],
    };
    for (const [group, names] of Object.entries(fields)) {
      const present = s[names[0]] !== undefined;
      for (const div of document.querySelectorAll('[data-for="' + group + '"]')) {
        div.hidden = !present;
      }
    }
    $("st-recorded").textContent = String(s.recorded ?? "–");
    $("st-served").textContent = String(s.served ?? "–");
    $("st-missed").textContent = String(s.missed ?? "–");
    $("st-unused").textContent = String(s.unused ?? "–");
    $("st-passed").textContent = String(s.passed_through ?? "–");
    const misses = $("st-misses");
    misses.replaceChildren(
      ...(s.first_misses || []).map((m) => {
        const li = document.createElement("li");
        li.textContent = "missed: " + m;
        return li;
      })
    );
    // The form starts on the mode serving, until the user picks one.
    if (!modeChosen) {
      $("mode").value = s.mode;
      modeFields();
    }
  }

  async function pollStatus() {
    for (;;) {
      try {
        renderStatus(await api("GET", "/status"));
        setLink(true);
      } catch (e) {
        setLink(false, e.message);
      }
      await sleep(1000);
    }
  }

  $("reset").addEventListener("click", async () => {
    try {
      const r = await api("POST", "/reset");
      show($("notice"), "closed " + r.closed + " connection(s)");
    } catch (e) {
      show($("notice"), e.message, true);
    }
  });

  // ---- mode ----

  // Only the options the chosen mode takes are shown and sent: the API
  // refuses the others by name.
  function modeFields() {
    const mode = $("mode").value;
    for (const el of document.querySelectorAll("#mode-form [data-modes]")) {
      el.hidden = !el.dataset.modes.split(" ").includes(mode);
    }
  }

  $("mode").addEventListener("change", () => {
    modeChosen = true;
    modeFields();
  });

  function lines(text) {
    return text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l);
  }

  $("mode-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const mode = $("mode").value;
    const body = { mode };
    if (mode === "record" || mode === "replay") {
      const cassette = $("cassette").value.trim();
      if (cassette) body.cassette = cassette;
    }
    if (mode === "record" && $("append").checked) body.append = true;
    if (mode === "replay") {
      if ($("record-misses").checked) body.record_misses = true;
      const ignore = lines($("ignore").value);
      if (ignore.length) body.ignore = ignore;
      const timing = $("timing").value;
      if (timing) body.timing = timing;
    }
    const result = $("mode-result");
    show(result, "switching to " + mode + "…");
    try {
      const r = await api("POST", "/mode", body);
      show(result, "now " + r.status.mode + ". previous: " + r.previous);
      modeChosen = false;
      renderStatus(r.status);
    } catch (err) {
      show(result, err.message, true);
    }
  });

  // ---- fault rules ----

  function renderFaults(rules) {
    const body = $("faults").tBodies[0];
    body.replaceChildren(
      ...rules.map((f) => {
        const tr = document.createElement("tr");
        tr.dataset.id = String(f.id);
        for (const text of [f.id, f.rule, f.seen, f.fired]) {
          const td = document.createElement("td");
          td.textContent = String(text);
          tr.append(td);
        }
        const td = document.createElement("td");
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Remove";
        remove.addEventListener("click", async () => {
          try {
            await api("DELETE", "/faults/" + encodeURIComponent(f.id));
          } catch (err) {
            show($("notice"), err.message, true);
          }
          loadFaults();
        });
        td.append(remove);
        tr.append(td);
        return tr;
      })
    );
    $("no-faults").hidden = rules.length > 0;
  }

  async function loadFaults() {
    try {
      renderFaults(await api("GET", "/faults"));
    } catch (e) {
      setLink(false, e.message);
    }
  }

  async function pollFaults() {
    for (;;) {
      await loadFaults();
      await sleep(2000);
    }
  }

  $("fault-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const rule = $("fault-rule").value.trim();
    if (!rule) return;
    try {
      const r = await api("POST", "/faults", { rule });
      show($("notice"), "fault rule " + r.id + " added: " + r.rule);
      $("fault-rule").value = "";
    } catch (err) {
      show($("notice"), err.message, true);
    }
    loadFaults();
  });

  $("faults-clear").addEventListener("click", async () => {
    try {
      const r = await api("DELETE", "/faults");
      show($("notice"), "removed " + r.cleared + " fault rule(s)");
    } catch (err) {
      show($("notice"), err.message, true);
    }
    loadFaults();
  });

  // ---- publish and invalidate ----

  $("publish-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      channel: $("channel").value,
      message: $("message").value,
      shard: $("shard").checked,
    };
    try {
      const r = await api("POST", "/publish", body);
      show($("inject-result"), "published to " + body.channel + ": " + r.receivers + " receiver(s)");
    } catch (err) {
      show($("inject-result"), err.message, true);
    }
  });

  $("invalidate-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const keys = $("keys").value.split(/\s+/).filter((k) => k);
    try {
      const r = await api("POST", "/invalidate", { keys: keys.length ? keys : null });
      const what = keys.length ? keys.join(" ") : "every key";
      show($("inject-result"), "invalidated " + what + ": " + r.receivers + " receiver(s)");
    } catch (err) {
      show($("inject-result"), err.message, true);
    }
  });

  // ---- the live tail ----

  const events = [];
  let paused = false;
  let dropped = 0;

  function matches(ev) {
    const cmd = $("filter-cmd").value.trim().toLowerCase();
    const conn = $("filter-conn").value.trim();
    if (cmd && !ev.cmd.toLowerCase().includes(cmd)) return false;
    if (conn && String(ev.conn) !== conn) return false;
    return true;
  }

  function time(ms) {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, "0");
    return (
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) +
      "." + String(d.getMilliseconds()).padStart(3, "0")
    );
  }

  function row(ev) {
    const tr = document.createElement("tr");
    tr.dataset.outcome = ev.outcome;
    tr.dataset.conn = String(ev.conn);
    tr.title = "mode " + ev.mode;
    const cells = [time(ev.at), ev.conn, ev.db, ev.outcome, ev.cmd, ev.reply];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (i === 3) td.className = "outcome " + ev.outcome;
      tr.append(td);
    });
    return tr;
  }

  function counts() {
    const shown = $("tail").tBodies[0].rows.length;
    $("tail-count").textContent =
      shown + " shown of the last " + events.length + (paused ? " (paused)" : "");
    const d = $("dropped");
    d.hidden = dropped === 0;
    d.textContent = dropped + " events dropped (the page fell behind)";
  }

  // Newest first.
  function render() {
    const body = $("tail").tBodies[0];
    body.replaceChildren(...events.filter(matches).reverse().map(row));
    counts();
  }

  function add(ev) {
    events.push(ev);
    if (events.length > MAX_EVENTS) events.shift();
    if (!paused) {
      const body = $("tail").tBodies[0];
      if (matches(ev)) body.prepend(row(ev));
      while (body.rows.length > MAX_EVENTS) body.lastElementChild.remove();
    }
    counts();
  }

  // One event-stream block: `event:` and `data:` lines; `:` starts a comment.
  function onBlock(block, live) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (name === "ready") live();
    else if (name === "interaction") add(JSON.parse(data.join("\n")));
    else if (name === "dropped") {
      dropped += JSON.parse(data.join("\n")).dropped;
      counts();
    }
  }

  async function tail() {
    for (;;) {
      const state = $("tail-h");
      try {
        const sent = token();
        const res = await fetch("/events", {
          cache: "no-store",
          headers: headers({ Accept: "text/event-stream" }),
        });
        if (res.status === 401) {
          await askToken(Boolean(sent));
          continue;
        }
        if (!res.ok || !res.body) throw new Error("GET /events: " + res.status);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        const live = () => (state.textContent = "Live tail ●");
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            onBlock(buffer.slice(0, end), live);
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (e) {
        setLink(false, e.message);
      }
      state.textContent = "Live tail (reconnecting)";
      await sleep(1000);
    }
  }

  for (const id of ["filter-cmd", "filter-conn"]) {
    $(id).addEventListener("input", render);
  }

  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(paused));
    render();
  });

  $("clear").addEventListener("click", () => {
    events.length = 0;
    dropped = 0;
    render();
  });

  modeFields();
  counts();
  pollStatus();
  pollFaults();
  tail();
})();
