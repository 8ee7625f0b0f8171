// textrec web page: one session at a time, driven through the JSON API. Text from the server or
// the person is only ever set with textContent (never parsed as HTML).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const RECENT = 8;
  let session = null;
  let busy = false;

  function status(message, error = false) {
    $("status").textContent = message;
    $("status").className = error ? "error" : "";
  }

  function show(view) {
    for (const id of ["welcome", "shop", "end"]) $(id).hidden = id !== view;
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

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A picture as the catalog has it: photos at twice their pixels, kept sharp; drawings at half
  // theirs; none: the frame is hidden.
  function picture(img, item, alt) {
    img.closest("figure").hidden = !item.has_picture;
    img.classList.toggle("photo", item.picture === "photo");
    if (item.has_picture) img.src = item.image_url;
    img.alt = alt;
  }

  function facts(dl, item) {
    dl.replaceChildren();
    const labels = item.labels || item.attributes;
    for (const [name, value] of Object.entries(labels)) dl.append(el("dt", "", name), el("dd", "", value));
  }

  // A request in words: "not lace-up", "heel height 3 to 4 inches" (a number needs its name).
  function wish(request) {
    const value = /\d/.test(request.value_label)
      ? `${request.attribute_label} ${request.value_label}` : request.value_label;
    return `${request.negated ? "not " : ""}${value}`;
  }

  // A request as a chip; the attribute is read out too ("closure: not lace-up").
  function chip(request, className) {
    const li = el("li", `chip ${className}`);
    li.append(el("span", "sr", `${request.attribute_label}: `));
    li.append(document.createTextNode(wish(request)));
    li.title = request.attribute_label;
    return li;
  }

  function understood(s) {
    const chips = $("understood");
    const notes = $("notes");
    chips.replaceChildren();
    notes.replaceChildren();
    const u = s.understood;
    if (!u) return;
    for (const r of u.kept) chips.append(chip(r, "kept"));
    for (const r of u.dropped) chips.append(chip(r, "dropped"));
    for (const text of u.unsupported) notes.append(el("li", "unsupported", text));
    if (u.unmet.length) {
      const wanted = u.unmet.map(wish).join(", ");
      notes.append(el("li", "unmet", `Not met by this shoe: ${wanted}`));
    }
  }

  function recent(s) {
    const ul = $("recent");
    ul.replaceChildren();
    const seen = new Set([s.item.item_id]);
    const items = [];
    for (const turn of [...s.history].reverse()) {
      if (seen.has(turn.item.item_id)) continue;
      seen.add(turn.item.item_id);
      items.push(turn.item);
    }
    ul.closest("section").hidden = items.length === 0;
    for (const item of items.slice(0, RECENT)) {
      const button = el("button", "thumb");
      button.type = "button";
      button.dataset.itemId = item.item_id;
      button.setAttribute("aria-label", `Show again: ${item.title}`);
      if (item.has_picture) {
        const img = el("img");
        img.width = 136;
        img.height = 102;
        img.alt = "";
        img.src = item.image_url;
        img.classList.toggle("photo", item.picture === "photo");
        button.append(img);
      }
      button.append(el("span", "", item.title));
      const li = el("li");
      li.append(button);
      ul.append(li);
    }
  }

  function render(s) {
    session = s;
    if (s.finished) return ending(s);
    show("shop");
    $("turn").textContent = `Shoe ${s.turn} of at most ${s.max_turns}`;
    $("title").textContent = s.item.title;
    picture($("picture"), s.item, s.item.title);
    facts($("labels"), s.item);
    $("reply").textContent = s.reply
      || (s.turn === 1 ? "Here is a first shoe. What should change?" : `Here is shoe ${s.turn}.`);
    understood(s);
    const standing = s.standing || [];
    $("standing").replaceChildren(...standing.map((r) => chip(r, "standing")));
    $("no-standing").hidden = standing.length > 0;
    recent(s);
  }

  function ending(s) {
    show("end");
    $("end-title").textContent = s.found ? "You found your shoe" : "No shoe chosen this time";
    $("chosen-title").textContent = s.item.title;
    picture($("chosen-picture"), s.item, s.item.title);
    facts($("chosen-labels"), s.item);
    $("end-note").textContent = s.found
      ? `Chosen after ${s.turn} shoe${s.turn === 1 ? "" : "s"}. Thank you!`
      : "This was the last shoe we could show. Try again with other words?";
    status("");
    $("again").focus();
  }

  function welcome() {
    session = null;
    show("welcome");
    $("wish").value = "";
    $("wish").focus();
  }

  async function guarded(work) {
    if (busy) return;
    busy = true;
    try {
      await work();
    } catch (error) {
      if (error.status === 404 && session) {
        welcome();
        status("That search has expired; please start again.", true);
      } else {
        status(error.message, true);
      }
    } finally {
      busy = false;
    }
  }

  function start(text) {
    return guarded(async () => {
      status("Looking…");
      render(await call("POST", "/api/sessions", { text }));
      status("");
      $("text").focus();
    });
  }

  $("describe").addEventListener("submit", (event) => {
    event.preventDefault();
    start($("wish").value.trim());
  });
  $("browse").addEventListener("click", () => start(""));

  $("say").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text || !session || session.finished) return;
    guarded(async () => {
      status("Looking…");
      const s = await call("POST", `/api/sessions/${session.session_id}/feedback`, { text });
      $("text").value = "";
      status("");
      render(s);
      if (!s.finished) $("text").focus();
    });
  });

  $("recent").addEventListener("click", (event) => {
    const button = event.target.closest("button.thumb");
    if (!button || !session) return;
    guarded(async () => {
      const body = { item_id: button.dataset.itemId };
      render(await call("POST", `/api/sessions/${session.session_id}/show`, body));
      $("title").scrollIntoView({ block: "nearest" });
      $("text").focus();
    });
  });

  $("found").addEventListener("click", () => guarded(async () => {
    if (!session || session.finished) return;
    render(await call("POST", `/api/sessions/${session.session_id}/end`, { found: true }));
  }));

  $("restart").addEventListener("click", () => guarded(async () => {
    if (session && !session.finished) {
      await call("POST", `/api/sessions/${session.session_id}/end`, { found: false })
        .catch(() => null);
    }
    status("");
    welcome();
  }));

  $("again").addEventListener("click", welcome);

  guarded(async () => {
    const c = await call("GET", "/api/catalog");
    $("catalog").textContent = `${c.n_items.toLocaleString("en")} shoes`;
    $("wish").placeholder = c.describe_hint;
    $("text").placeholder = c.feedback_hint;
    const names = c.attributes.map((a) => a.label);
    $("knows").textContent = `This shop knows each shoe's ${names.slice(0, -1).join(", ")}`
      + `${names.length > 1 ? " and " : ""}${names[names.length - 1]}.`;
  });
  welcome();
})();
