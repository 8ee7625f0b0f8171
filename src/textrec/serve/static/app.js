// textrec web page: one session at a time, driven through the JSON API. Text from the server or
// the person is only ever set with textContent (never parsed as HTML).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let session = null;
  let busy = false;

  function status(message, error = false) {
    $("status").textContent = message;
    $("status").className = error ? "error" : "";
  }

  async function call(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function describe(item) {
    return Object.entries(item.attributes).map(([k, v]) => `${k}: ${v}`).join(", ");
  }

  function render(s) {
    session = s;
    $("turn").textContent = `${s.turn} of at most ${s.max_turns}`;
    $("picture").src = s.item.image_url;
    $("picture").alt = describe(s.item) || s.item.item_id;
    $("item-id").textContent = s.item.item_id;
    const dl = $("attributes");
    dl.replaceChildren();
    for (const [name, value] of Object.entries(s.item.attributes)) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = value;
      dl.append(dt, dd);
    }
    const ol = $("history");
    ol.replaceChildren();
    if (s.opening) {
      const li = document.createElement("li");
      li.textContent = `You: “${s.opening}”`;
      ol.append(li);
    }
    for (const turn of s.history) {
      const li = document.createElement("li");
      li.textContent = `Shown ${turn.item.item_id} (${describe(turn.item)})`;
      if (turn.feedback) {
        const said = document.createElement("div");
        said.className = "said";
        said.textContent = `You: “${turn.feedback}”`;
        li.append(said);
      }
      ol.append(li);
    }
    const open = !s.finished;
    for (const id of ["text", "send", "found"]) $(id).disabled = !open;
  }

  async function guarded(work) {
    if (busy) return;
    busy = true;
    try {
      await work();
    } catch (error) {
      if (error.status === 404) {
        status("That session has expired; here is a fresh start.", true);
        render(await call("POST", "/api/sessions", {}));
      } else {
        status(error.message, true);
      }
    } finally {
      busy = false;
    }
  }

  function start() {
    return guarded(async () => {
      status("Loading…");
      render(await call("POST", "/api/sessions", {}));
      status("Here is a first shoe. What should change?");
      $("text").focus();
    });
  }

  $("say").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text || !session || session.finished) return;
    guarded(async () => {
      status("Looking…");
      const s = await call("POST", `/api/sessions/${session.session_id}/feedback`, { text });
      $("text").value = "";
      render(s);
      if (s.finished) {
        status(s.found ? "Great, noted! Press “Start over” to look for another."
          : "That was the last turn. Press “Start over” to try again.");
        $("restart").focus();
      } else {
        status(`Here is item ${s.turn}.`);
        $("text").focus();
      }
    });
  });

  $("found").addEventListener("click", () => guarded(async () => {
    if (!session || session.finished) return;
    render(await call("POST", `/api/sessions/${session.session_id}/end`, { found: true }));
    status("Great, noted! Press “Start over” to look for another.");
    $("restart").focus();
  }));

  $("restart").addEventListener("click", () => guarded(async () => {
    if (session && !session.finished) {
      await call("POST", `/api/sessions/${session.session_id}/end`, { found: false })
        .catch(() => null);
    }
    status("Loading…");
    render(await call("POST", "/api/sessions", {}));
    status("A fresh start. What should change?");
    $("text").focus();
  }));

  start();
})();
