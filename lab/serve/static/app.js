/* The lab's served runs: the browser side of `lab serve`.
 *
 * Plain ES2020, no framework, nothing fetched but this server's /api. The page has a home (the runs as
 * cards) and one panel per kind of run (predict, generate, recommend, sample, solve); the address's hash
 * says which run is open (#run=NAME), and an access token given as #token=XYZ is kept in sessionStorage
 * and sent as "Authorization: Bearer XYZ" on every /api call.
 */
"use strict";

(() => {
  // ------------------------------------------------------------------ small helpers

  const $ = (id) => document.getElementById(id);

  /** Makes an element: el("div", {class: "x", dataset: {run: "a"}}, "text", child, ...). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") for (const [k, v] of Object.entries(value)) node.style.setProperty(k, v);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** A number for people: 4 significant digits, no trailing zeros. */
  function fmt(value, digits = 4) {
    if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
    if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
    return String(Number(value.toPrecision(digits)));
  }

  /** A headline figure: accuracies as percentages, the rest as numbers. */
  function fmtFigure(name, value) {
    if (/acc|success/i.test(name) && value >= 0 && value <= 1) return `${(value * 100).toFixed(1)}%`;
    return fmt(value);
  }

  const humanise = (name) => String(name).replace(/_/g, " ");
  const debounce = (fn, ms) => {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  };
  const randomSeed = () => Math.floor(Math.random() * 100000);
  const numberOr = (input, fallback) => (input.value.trim() === "" ? fallback : Number(input.value));

  function showError(id, message) {
    const box = $(id);
    box.textContent = message;
    box.hidden = false;
  }
  function clearError(id) {
    const box = $(id);
    box.textContent = "";
    box.hidden = true;
  }

  // ------------------------------------------------------------------ the API

  const TOKEN_KEY = "lab-serve-token";

  /** GETs or POSTs to the API; resolves to the parsed JSON (or the Response when raw), throws an Error
   *  whose message is the server's {"error": ...} on a 4xx/5xx. */
  async function api(path, { body, form, signal, raw = false } = {}) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method: "GET", headers, signal };
    if (form) {
      init.method = "POST";
      init.body = form;            // the browser writes the multipart Content-Type itself
    } else if (body !== undefined) {
      init.method = "POST";
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (exc) {
      if (exc.name === "AbortError") throw exc;
      throw new Error(`cannot reach the server (${exc.message})`);
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    return raw ? response : response.json();
  }

  async function errorMessage(response) {
    let message = `${response.status} ${response.statusText}`.trim();
    try {
      const data = await response.json();
      if (data && typeof data.error === "string") message = data.error;
      else if (data && data.detail) message = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    } catch (_) { /* not JSON: keep the status line */ }
    if (response.status === 401 && !sessionStorage.getItem(TOKEN_KEY)) {
      message += `; open this page as ${location.origin}/#token=<token>`;
    }
    return message;
  }

  const runPath = (run, action) => `/api/runs/${encodeURIComponent(run.name)}/${action}`;

  /** Reads a text/event-stream body and calls onEvent(type, data) for each event ("message" when it has
   *  no `event:` line). data is parsed JSON, or the raw text when it is not JSON. */
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : blocks.pop();   // the last block may be incomplete
      for (const block of blocks) dispatchEvent(block, onEvent);
      if (done) return;
    }
  }

  function dispatchEvent(block, onEvent) {
    let type = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;                 // a comment (keep-alive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    const text = data.join("\n");
    let parsed = text;
    try { parsed = JSON.parse(text); } catch (_) { /* keep the text */ }
    onEvent(type, parsed);
  }

  // ------------------------------------------------------------------ runs, home, tabs, routing

  const KIND_ACTION = {
    predict: "draw & classify", generate: "write text", recommend: "get picks",
    sample: "sample & explore", solve: "solve mazes",
  };
  /** What a card says when its scenario has no description. */
  const KIND_BLURB = {
    predict: "Draw a digit (or upload a picture) and watch the network's probabilities change as you draw.",
    generate: "Give it the start of a text and watch it write the rest, one token at a time.",
    recommend: "Rate a few titles you know and get picks with the reasons behind them.",
    sample: "Digits decoded from random latent codes; walk between them and around the latent space.",
    solve: "Watch the agent walk a maze, with what it learned drawn on every tile.",
  };
  const state = { runs: [], current: null, panel: null, loadFailed: false, newToken: false };

  /** The hash is "key=value&key=value": token (taken out and stored) and run. */
  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (params.has("token")) {
      sessionStorage.setItem(TOKEN_KEY, params.get("token"));
      state.newToken = true;
      params.delete("token");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    }
    return params;
  }

  async function loadRuns() {
    const box = $("runs");
    try {
      const data = await api("/api/runs");
      state.runs = Array.isArray(data.runs) ? data.runs : [];
      renderRuns();
      renderTabs();
    } catch (exc) {
      box.replaceChildren();
      state.loadFailed = true;
      showError("runs-error", exc.message);
    } finally {
      box.removeAttribute("aria-busy");
    }
  }

  function renderRuns() {
    const box = $("runs");
    clearError("runs-error");
    if (!state.runs.length) {
      box.replaceChildren(el("p", { class: "empty-note" }, "No runs are served. Start `lab serve RUN...` with some run folders."));
      return;
    }
    box.replaceChildren(...state.runs.map(runCard));
  }

  function runCard(run) {
    const usable = Boolean(PANELS[run.kind]);
    const head = run.headline;
    return el("div", {
      class: `run-card kind-${run.kind || "none"}${usable ? "" : " disabled"}`,
      dataset: { run: run.name, testid: "run-card" },
      tabindex: usable ? "0" : null,
      role: usable ? "button" : null,
      title: usable ? `open ${run.name}` : "this kind of run has no panel",
      onclick: () => usable && openRun(run.name),
      onkeydown: (e) => { if (usable && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); openRun(run.name); } },
    },
    el("span", { class: "kind" }, `${run.task || "run"}${usable ? " · " + KIND_ACTION[run.kind] : ""}`),
    el("span", { class: "title" }, run.title || run.name),
    el("span", { class: "desc" }, run.description || KIND_BLURB[run.kind] || ""),
    el("div", { class: "foot" },
      head && typeof head.value === "number"
        ? el("span", { class: "headline" }, el("b", {}, fmtFigure(head.name, head.value)), humanise(head.name))
        : el("span", { class: "headline" }, run.status && run.status !== "complete" ? run.status : ""),
      el("span", { class: "name" }, run.name)));
  }

  function renderTabs() {
    const tabs = $("tabs");
    const home = $("tab-home");
    const runTabs = state.runs.filter((run) => PANELS[run.kind]).map((run) =>
      el("button", {
        type: "button", class: "tab", title: run.name,
        dataset: { run: run.name, testid: "tab" },
        onclick: () => openRun(run.name),
      }, run.title || run.name));
    tabs.replaceChildren(home, ...runTabs);
    markTab();
  }

  function markTab() {
    const name = state.current ? state.current.name : "";
    for (const tab of $("tabs").children) {
      const active = tab.dataset.run === name;
      tab.classList.toggle("active", active);
      if (active) tab.scrollIntoView({ block: "nearest", inline: "nearest" });   // narrow screens scroll the tabs
    }
  }

  function openRun(name) {
    const hash = `#run=${encodeURIComponent(name)}`;
    if (location.hash === hash) route(); else location.hash = hash;   // hashchange calls route()
  }

  function goHome() {
    if (location.hash) history.pushState(null, "", location.pathname + location.search);
    route();
  }

  /** Shows what the hash asks for: a run's panel, or the home. */
  function route() {
    const name = readHash().get("run");
    if (state.newToken && state.loadFailed) {    // a token pasted into the open page: try the runs again
      state.newToken = state.loadFailed = false;
      loadRuns().then(route);
      return;
    }
    state.newToken = false;
    const run = name ? state.runs.find((r) => r.name === name) : null;
    if (state.panel && (!run || state.current !== run)) state.panel.leave();
    for (const view of document.querySelectorAll(".view")) view.hidden = true;
    if (!run || !PANELS[run.kind]) {
      state.current = null;
      state.panel = null;
      $("home").hidden = false;
      if (name && state.runs.length) showError("runs-error", `no served run is called ${name}`);
      else if (!state.loadFailed) clearError("runs-error");
      markTab();
      return;
    }
    const opening = state.current !== run;
    state.current = run;
    state.panel = PANELS[run.kind];
    const section = $(`panel-${run.kind}`);
    section.hidden = false;
    fillPanelHead(section, run);
    markTab();
    if (opening) {
      window.scrollTo(0, 0);
      state.panel.open(run);
    }
  }

  function fillPanelHead(section, run) {
    section.querySelector(".panel-title").textContent = run.title || run.name;
    const head = run.headline;
    const figure = head && typeof head.value === "number" ? ` · ${humanise(head.name)} ${fmtFigure(head.name, head.value)}` : "";
    section.querySelector(".panel-sub").textContent = `${run.name}${figure}`;
  }

  // ------------------------------------------------------------------ recommendations

  const recommend = {
    run: null,
    ratings: new Map(),      // title -> stars (null until the user clicks one)
    searchSeq: 0,

    init() {
      $("title-search").addEventListener("input", debounce(() => this.search(), 200));
      $("title-search").addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); this.search(); }
      });
      $("recommend-go").addEventListener("click", () => this.go());
    },

    open(run) {
      this.run = run;
      this.ratings.clear();
      $("title-search").value = "";
      $("title-results").replaceChildren();
      $("title-results").dataset.key = "";
      $("picks").replaceChildren(el("p", { class: "empty-note" }, "Your picks will appear here, in rows."));
      $("picks").classList.remove("stale");
      $("recommend-status").textContent = "";
      clearError("recommend-error");
      this.renderRatings();
      this.search();                         // the most rated titles, to start from
    },

    leave() {},

    maxStars() {
      const scale = this.run && this.run.info && this.run.info.scale;
      return Array.isArray(scale) && scale.length === 2 ? Math.round(scale[1]) : 5;
    },

    minStars() {
      const scale = this.run && this.run.info && this.run.info.scale;
      return Array.isArray(scale) && scale.length === 2 ? Math.round(scale[0]) : 1;
    },

    async search() {
      const query = $("title-search").value.trim();
      const seq = ++this.searchSeq;          // answers to older queries are dropped
      try {
        const data = await api(`${runPath(this.run, "titles")}?q=${encodeURIComponent(query)}&limit=20`);
        if (seq !== this.searchSeq) return;
        clearError("recommend-error");
        this.renderResults(data.titles || [], query);
      } catch (exc) {
        if (seq === this.searchSeq) showError("recommend-error", exc.message);
      }
    },

    /** The titles found (the most rated first; with an empty query, simply the most rated). */
    renderResults(titles, query) {
      const box = $("title-results");
      if (!titles.length) {
        box.dataset.key = "";
        box.replaceChildren(el("span", { class: "empty-note" }, "No title matches."));
        return;
      }
      // the same answer again (a repeated query): keep the buttons, so a click in progress still lands
      const key = JSON.stringify([query, titles.map((t) => t.title)]);
      if (box.dataset.key === key) {
        for (const b of box.querySelectorAll(".title-result")) b.classList.toggle("added", this.ratings.has(b.dataset.title));
        return;
      }
      box.dataset.key = key;
      const head = query ? null : el("span", { class: "results-head" }, "Popular titles");
      box.replaceChildren(...(head ? [head] : []), ...titles.map((t) => el("button", {
        type: "button",
        class: `title-result${this.ratings.has(t.title) ? " added" : ""}`,
        dataset: { itemId: t.item_id, title: t.title },
        onclick: (e) => { this.add(t.title); e.currentTarget.classList.add("added"); },
      }, t.title)));
    },

    add(title) {
      if (!this.ratings.has(title)) this.ratings.set(title, null);
      this.renderRatings();
    },

    renderRatings() {
      const list = $("my-ratings");
      for (const b of $("title-results").querySelectorAll(".title-result")) b.classList.toggle("added", this.ratings.has(b.dataset.title));
      if (!this.ratings.size) {
        list.replaceChildren(el("li", { class: "empty-note" }, "Nothing rated yet."));
        return;
      }
      list.replaceChildren(...[...this.ratings].map(([title, stars]) =>
        el("li", { class: `my-rating${stars ? "" : " unrated"}`, dataset: { title } },
          el("span", { class: "rt", title }, title),
          this.starButtons(title, stars),
          el("button", {
            type: "button", class: "rating-remove", title: "remove", "aria-label": `remove ${title}`,
            onclick: () => { this.ratings.delete(title); this.renderRatings(); },
          }, "×"))));
    },

    starButtons(title, stars) {
      const buttons = [];
      for (let n = this.minStars(); n <= this.maxStars(); n++) {
        buttons.push(el("button", {
          type: "button", class: `star${stars && n <= stars ? " on" : ""}`,
          dataset: { stars: n }, "aria-label": `${n} stars`, title: `${n} stars`,
          onclick: () => { this.ratings.set(title, n); this.renderRatings(); },
        }, "★"));
      }
      return el("span", { class: "stars" }, buttons);
    },

    /** The request: the rated titles, else the user number, else a complaint. */
    request() {
      const top = Math.max(1, Math.round(numberOr($("recommend-top"), 20)));
      const rated = [...this.ratings].filter(([, stars]) => stars);
      if (rated.length) return { ratings: Object.fromEntries(rated), top };
      const user = $("recommend-user").value.trim();
      if (user) return { user: Number(user), top };
      return null;
    },

    async go() {
      const body = this.request();
      if (!body) {
        showError("recommend-error", this.ratings.size
          ? "Click the stars of at least one title you added."
          : "Search for a title, add it and give it stars first (or give a user number).");
        return;
      }
      const button = $("recommend-go");
      button.disabled = true;
      $("recommend-status").textContent = "thinking…";
      try {
        const data = await api(runPath(this.run, "recommend"), { body });
        clearError("recommend-error");
        $("picks").classList.remove("stale");
        this.renderPicks(data, body);
      } catch (exc) {
        $("recommend-status").textContent = "";
        $("picks").classList.add("stale");          // the picks shown answer an earlier request
        showError("recommend-error", exc.message);
      } finally {
        button.disabled = false;
      }
    },

    renderPicks(data, body) {
      const picks = data.picks || [];
      const count = Array.isArray(data.rated) ? data.rated.length : data.n_ratings;
      const who = body.user !== undefined ? `user ${body.user}'s` : "your";
      $("recommend-status").textContent = typeof count === "number"
        ? `${picks.length} picks from ${who} ${count} rating${count === 1 ? "" : "s"}`
        : `${picks.length} picks for ${body.user !== undefined ? `user ${body.user}` : "you"}`;
      const rows = groupPicks(picks);
      $("picks").replaceChildren(...rows.map((row) => el("section", { class: "pick-row" },
        el("h2", {}, row.title),
        el("div", { class: "pick-strip" }, row.picks.map((p) => pickCard(p, this.maxStars()))))));
    },
  };

  const TOP_ROW = 6;

  /** Netflix-like rows: the first picks, then "More like X" for each rated title that explains at least two
   *  of the rest (by its largest effect), then whatever is left. */
  function groupPicks(picks) {
    const rows = [{ title: "Top picks for you", picks: picks.slice(0, TOP_ROW) }];
    const groups = new Map();
    const loose = [];
    for (const pick of picks.slice(TOP_ROW)) {
      const reason = strongestReason(pick);
      if (!reason) { loose.push(pick); continue; }
      if (!groups.has(reason)) groups.set(reason, []);
      groups.get(reason).push(pick);
    }
    for (const [title, group] of groups) {
      if (group.length >= 2) rows.push({ title: `More like ${title}`, picks: group });
      else loose.push(...group);
    }
    if (loose.length) rows.push({ title: "More to explore", picks: loose.sort((a, b) => a.rank - b.rank) });
    return rows.filter((row) => row.picks.length);
  }

  function strongestReason(pick) {
    const because = (pick.because || []).filter((b) => typeof b.effect === "number" && b.effect > 0);
    if (!because.length) return null;
    return because.reduce((a, b) => (b.effect > a.effect ? b : a)).title;
  }

  /** A hue from a title, so each "poster" keeps its colour. */
  function titleHue(title) {
    let hash = 0;
    for (const ch of String(title)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return hash % 360;
  }

  function pickCard(pick, maxStars) {
    const rating = Number(pick.predicted_rating);
    const fill = Number.isFinite(rating) ? Math.max(0, Math.min(1, rating / maxStars)) * 100 : 0;
    const detail = [
      typeof pick.general_appeal === "number" ? `general appeal ${fmt(pick.general_appeal, 3)}` : null,
      typeof pick.from_your_ratings === "number" ? `from your ratings ${pick.from_your_ratings >= 0 ? "+" : ""}${fmt(pick.from_your_ratings, 3)}` : null,
    ].filter(Boolean).join(", ");
    return el("article", { class: "pick", dataset: { itemId: pick.item_id, testid: "pick" }, title: detail || null },
      el("div", { class: "poster", style: { "--hue": titleHue(pick.title) } },
        el("span", { class: "rank" }, `#${pick.rank}`),
        el("span", { class: "ptitle" }, pick.title)),
      el("div", { class: "pick-body" },
        el("div", { class: "stars-line" },
          el("span", { class: "stars-shown", "aria-label": `predicted ${fmt(rating, 3)} stars` },
            "★".repeat(maxStars), el("span", { class: "fill", style: { width: `${fill}%` } }, "★".repeat(maxStars))),
          el("b", { class: "predicted" }, Number.isFinite(rating) ? rating.toFixed(1) : "?")),
        pick.year ? el("span", { class: "pick-meta" }, String(pick.year)) : null,
        (pick.genres || []).length ? el("div", { class: "genres" }, pick.genres.map((g) => el("span", { class: "genre" }, g))) : null,
        pick.why ? el("span", { class: "why" }, pick.why) : null));
  }

  // ------------------------------------------------------------------ drawing pad (classifier)

  const INK_WIDTH = 22;          // px on the 280 px pad: about two MNIST pixels, like a pen stroke

  const predict = {
    run: null,
    shape: [28, 28, 1],
    drawing: false,
    last: null,
    inFlight: false,
    again: false,                // a newer drawing waits for the answer in flight
    seq: 0,

    init() {
      const pad = $("pad");
      this.ctx = pad.getContext("2d", { willReadFrequently: true });
      this.later = debounce(() => this.classify(), 150);
      pad.addEventListener("pointerdown", (e) => this.down(e));
      pad.addEventListener("pointermove", (e) => this.move(e));
      pad.addEventListener("pointerup", (e) => this.up(e));
      pad.addEventListener("pointercancel", (e) => this.up(e));
      $("pad-clear").addEventListener("click", () => this.clear());
      $("photo-file").addEventListener("change", () => this.upload());
    },

    open(run) {
      this.run = run;
      const shape = run.info && Array.isArray(run.info.input_shape) ? run.info.input_shape : [28, 28, 1];
      this.shape = [shape[0] || 28, shape[1] || 28, shape[2] || 1];
      const colour = this.shape[2] === 3;
      $("pad-wrap").hidden = colour;
      $("pad-clear").parentElement.hidden = colour;
      $("predict-howto").textContent = colour
        ? "This network classifies colour photos: upload a PNG or JPEG and the bars show what it thinks is in it."
        : "Draw a digit in the black square with the mouse or a finger; the bars update as you draw. Clear to start again.";
      $("photo-label").textContent = colour ? "Upload a photo (PNG or JPEG)" : "or upload an image (PNG or JPEG)";
      $("photo-file").value = "";
      $("photo-preview").hidden = true;
      const preview = $("pad-preview");
      preview.width = this.shape[1];
      preview.height = this.shape[0];
      this.buildBars();
      this.clear();
    },

    leave() {},

    classes() {
      const names = this.run.info && this.run.info.classes;
      return Array.isArray(names) && names.length ? names : Array.from({ length: 10 }, (_, i) => String(i));
    },

    buildBars() {
      $("probs").replaceChildren(...this.classes().map((name, i) =>
        el("div", { class: "prob-row", dataset: { class: i, name } },
          el("span", { class: "label", title: name }, name),
          el("span", { class: "bar" }, el("span")),
          el("span", { class: "pct" }, "–"))));
    },

    clear() {
      this.ctx.fillStyle = "#000";
      this.ctx.fillRect(0, 0, 280, 280);
      $("pad-preview").getContext("2d").clearRect(0, 0, this.shape[1], this.shape[0]);
      this.seq++;                          // an answer still on its way is for the old drawing
      this.showProbabilities(null);
      $("predict-guess").textContent = this.shape[2] === 3 ? "Upload a photo." : "Draw something.";
      $("predict-notes").replaceChildren();
      clearError("predict-error");
    },

    point(e) {
      const pad = $("pad");
      const rect = pad.getBoundingClientRect();
      return [(e.clientX - rect.left) * (pad.width / rect.width), (e.clientY - rect.top) * (pad.height / rect.height)];
    },

    down(e) {
      e.preventDefault();
      $("pad").setPointerCapture(e.pointerId);
      this.drawing = true;
      this.last = this.point(e);
      this.stroke(this.last, this.last);
    },

    move(e) {
      if (!this.drawing) return;
      e.preventDefault();
      const here = this.point(e);
      this.stroke(this.last, here);
      this.last = here;
      this.later();
    },

    up() {
      if (!this.drawing) return;
      this.drawing = false;
      this.classify();
    },

    stroke(from, to) {
      const ctx = this.ctx;
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = INK_WIDTH;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(from[0], from[1]);
      ctx.lineTo(to[0], to[1]);
      ctx.stroke();
    },

    /** The pad averaged down to the network's H x W (each cell the mean grey of its block), 0-255. */
    pixels() {
      const [h, w] = this.shape;
      const size = 280;
      const data = this.ctx.getImageData(0, 0, size, size).data;
      const rows = [];
      for (let r = 0; r < h; r++) {
        const y0 = Math.floor((r * size) / h), y1 = Math.max(y0 + 1, Math.floor(((r + 1) * size) / h));
        const row = [];
        for (let c = 0; c < w; c++) {
          const x0 = Math.floor((c * size) / w), x1 = Math.max(x0 + 1, Math.floor(((c + 1) * size) / w));
          let sum = 0;
          for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += data[(y * size + x) * 4];
          row.push(Math.round(sum / ((y1 - y0) * (x1 - x0))));
        }
        rows.push(row);
      }
      return rows;
    },

    drawPreview(rows) {
      const [h, w] = this.shape;
      const image = new ImageData(w, h);
      rows.forEach((row, r) => row.forEach((v, c) => {
        const i = (r * w + c) * 4;
        image.data[i] = image.data[i + 1] = image.data[i + 2] = v;
        image.data[i + 3] = 255;
      }));
      $("pad-preview").getContext("2d").putImageData(image, 0, 0);
    },

    /** Sends the drawing; one request at a time, and the latest drawing is always the last one sent. */
    async classify() {
      if (this.shape[2] === 3) return;
      if (this.inFlight) { this.again = true; return; }
      const rows = this.pixels();
      this.drawPreview(rows);
      if (!rows.some((row) => row.some((v) => v > 0))) return;   // an empty pad says nothing
      this.inFlight = true;
      const seq = this.seq;
      try {
        const data = await api(runPath(this.run, "predict"), { body: { pixels: rows, top: 3 } });
        if (seq === this.seq) this.show(data);
      } catch (exc) {
        if (seq === this.seq) showError("predict-error", exc.message);
      } finally {
        this.inFlight = false;
        if (this.again) { this.again = false; this.classify(); }
      }
    },

    async upload() {
      const file = $("photo-file").files[0];
      if (!file) return;
      const preview = $("photo-preview");
      if (preview.src) URL.revokeObjectURL(preview.src);
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
      const form = new FormData();
      form.append("file", file);
      const seq = ++this.seq;
      try {
        const data = await api(runPath(this.run, "predict"), { form });
        if (seq === this.seq) this.show(data);
      } catch (exc) {
        if (seq === this.seq) showError("predict-error", exc.message);
      }
    },

    show(data) {
      clearError("predict-error");
      let probs = data.probabilities;
      if (!Array.isArray(probs)) {                 // only the top few came back
        probs = this.classes().map(() => 0);
        for (const t of data.top || []) probs[t.class] = t.probability;
      }
      this.showProbabilities(probs);
      const best = probs.indexOf(Math.max(...probs));
      const name = this.classes()[best];
      $("predict-guess").textContent = `Looks like ${/^([aeiou8]|1[18]\b)/i.test(name) ? "an" : "a"} ${name}` +
        ` (${(probs[best] * 100).toFixed(1)}%)`;
      $("predict-notes").replaceChildren(...(data.notes || []).map((n) => el("li", {}, n)));
    },

    showProbabilities(probs) {
      const rows = $("probs").children;
      const best = probs ? probs.indexOf(Math.max(...probs)) : -1;
      for (let i = 0; i < rows.length; i++) {
        const p = probs ? Number(probs[i]) || 0 : 0;
        rows[i].classList.toggle("top", i === best);
        rows[i].querySelector(".bar span").style.width = `${(p * 100).toFixed(1)}%`;
        rows[i].querySelector(".pct").textContent = probs ? `${(p * 100).toFixed(1)}%` : "–";
      }
    },
  };

  // ------------------------------------------------------------------ text generation

  const generate = {
    run: null,
    controller: null,

    init() {
      $("generate-go").addEventListener("click", () => this.go());
      $("generate-stop").addEventListener("click", () => this.stop());
      $("prompt").addEventListener("keydown", (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.go(); }
      });
    },

    open(run) {
      this.stop();
      this.run = run;
      const info = run.info || {};
      $("prompt").value = info.prompt || "";
      $("prompt").placeholder = info.level === "words" ? "the company said" : "ROMEO:";
      $("generated").replaceChildren();
      $("generate-status").textContent = info.level ? `this network writes ${info.level === "words" ? "words" : "characters"}` : "";
      clearError("generate-error");
    },

    leave() { this.stop(); },

    stop() {
      if (this.controller) this.controller.abort();
    },

    settings() {
      const topK = $("gen-top-k").value.trim();
      const seed = $("gen-seed").value.trim();
      if (seed === "") $("gen-seed").value = randomSeed();   // a blank seed: a new one, shown for re-use
      return {
        prompt: $("prompt").value === "" ? null : $("prompt").value,   // null: the run's own prompt
        length: Math.round(numberOr($("gen-length"), 300)),
        temperature: numberOr($("gen-temperature"), 0.8),
        top_k: topK === "" ? null : Math.round(Number(topK)),
        seed: Math.round(Number($("gen-seed").value)),
      };
    },

    async go() {
      this.stop();
      const controller = new AbortController();
      this.controller = controller;
      const body = this.settings();
      const out = $("generated");
      const cursor = el("span", { class: "cursor" });
      out.replaceChildren(el("span", { class: "prompt-echo" }, body.prompt ?? (this.run.info || {}).prompt ?? ""), cursor);
      clearError("generate-error");
      this.busy(true);
      const run = { tokens: 0, started: performance.now(), done: null, out, cursor };
      $("generate-status").textContent = "writing…";
      try {
        const response = await api(runPath(this.run, "generate"), { body, signal: controller.signal, raw: true });
        await readEvents(response.body, (type, data) => this.onEvent(run, type, data));
        this.finish(run, false);
      } catch (exc) {
        if (exc.name === "AbortError") this.finish(run, true);
        else { showError("generate-error", exc.message); this.finish(run, false); }
      } finally {
        cursor.remove();
        if (this.controller === controller) { this.controller = null; this.busy(false); }
      }
    },

    busy(on) {
      $("generate-go").disabled = on;
      $("generate-stop").disabled = !on;
    },

    onEvent(run, type, data) {
      if (type === "done") { run.done = data; return; }
      if (type === "error") { showError("generate-error", data && data.error ? data.error : String(data)); return; }
      if (type !== "message" || !data || typeof data.text !== "string") return;
      run.tokens++;
      const follow = run.out.scrollTop + run.out.clientHeight >= run.out.scrollHeight - 8;
      run.cursor.before(tokenSpan(data));
      if (follow) run.out.scrollTop = run.out.scrollHeight;
      // no "tokens" in the words until the end: the final line (with tokens/s) is the one that says it
      if (run.tokens % 10 === 0) $("generate-status").textContent = `writing… ${run.tokens} so far`;
    },

    finish(run, aborted) {
      const status = $("generate-status");
      if (run.done) {
        const tokens = run.done.tokens ?? run.tokens;
        const seconds = run.done.seconds ?? (performance.now() - run.started) / 1000;
        const rate = seconds > 0 ? `${fmt(tokens / seconds, 3)} tokens/s` : "";
        status.textContent = `${tokens} tokens in ${Number(seconds).toFixed(2)} s · ${rate}` +
          (run.done.cut ? " · stopped by the server's time limit" : "");
      } else if (aborted) {
        status.textContent = `stopped after ${run.tokens} tokens`;
      } else if (run.tokens) {
        status.textContent = `the stream ended early, after ${run.tokens} tokens`;
      } else {
        status.textContent = "";
      }
    },
  };

  /** One token, paler the less likely the network found it (logprob at temperature 1). */
  function tokenSpan(data) {
    const span = el("span", {}, data.text);
    if (typeof data.logprob === "number") {
      const p = Math.exp(data.logprob);
      span.title = `p = ${fmt(p, 3)}`;
      span.style.opacity = String(0.45 + 0.55 * Math.min(1, p * 2));
    }
    return span;
  }

  // ------------------------------------------------------------------ VAE samples, interpolation, explorer

  const RANGE = 3;                       // the explorer spans -3..3 on both axes
  const STEPS = 10;                      // codes in the interpolation strip, both ends included

  const sample = {
    run: null,
    codes: [],
    selected: [],                        // indices into codes, in the order they were clicked
    latentSize: 0,
    position: [0, 0],
    pending: null,                       // the explorer's newest code, waiting for the request in flight
    inFlight: false,
    interpSeq: 0,

    init() {
      $("sample-reseed").addEventListener("click", () => { $("sample-seed").value = randomSeed(); this.load(); });
      $("sample-n").addEventListener("change", () => this.load());
      $("sample-temperature").addEventListener("change", () => this.load());
      $("sample-seed").addEventListener("change", () => this.load());
      const box = $("explorer");
      box.addEventListener("pointermove", (e) => this.explore(e));
      box.addEventListener("pointerdown", (e) => { box.setPointerCapture(e.pointerId); this.explore(e); });
      $("explorer-x").addEventListener("change", () => this.decodeHere());
      $("explorer-y").addEventListener("change", () => this.decodeHere());
    },

    open(run) {
      this.run = run;
      this.latentSize = Math.max(1, Number(run.info && run.info.latent_size) || 2);
      this.fillDimensions();
      this.position = [0, 0];
      this.placeDot();
      $("samples").replaceChildren();
      this.load();
    },

    leave() {},

    fillDimensions() {
      const options = () => Array.from({ length: this.latentSize }, (_, i) => el("option", { value: i }, String(i)));
      $("explorer-x").replaceChildren(...options());
      $("explorer-y").replaceChildren(...options());
      $("explorer-x").value = "0";
      $("explorer-y").value = this.latentSize > 1 ? "1" : "0";
      $("explorer-y").disabled = this.latentSize < 2;
    },

    async load() {
      const body = {
        n: Number($("sample-n").value),
        seed: Math.round(numberOr($("sample-seed"), 0)),
        temperature: numberOr($("sample-temperature"), 1),
      };
      $("sample-reseed").disabled = true;
      try {
        const data = await api(runPath(this.run, "sample"), { body });
        clearError("sample-error");
        if (data.latent_size && data.latent_size !== this.latentSize) {
          this.latentSize = data.latent_size;
          this.fillDimensions();
        }
        this.codes = data.codes || [];
        this.selected = [];
        this.renderSamples(data.images || []);
        this.renderInterpolation(null);
        this.decodeHere();
      } catch (exc) {
        showError("sample-error", exc.message);
      } finally {
        $("sample-reseed").disabled = false;
      }
    },

    renderSamples(images) {
      $("samples").replaceChildren(...images.map((src, i) => el("img", {
        class: "sample", src, alt: `sample ${i + 1}`, draggable: "false",
        dataset: { index: i, testid: "sample" },
        onclick: () => this.pick(i),
      })));
    },

    /** Selects a sample; a third click lets go of the oldest of the two. */
    pick(i) {
      const at = this.selected.indexOf(i);
      if (at >= 0) this.selected.splice(at, 1);
      else {
        this.selected.push(i);
        if (this.selected.length > 2) this.selected.shift();
      }
      [...$("samples").children].forEach((img, j) => {
        img.classList.toggle("selected", this.selected.includes(j));
        img.classList.toggle("first", this.selected[0] === j);
      });
      if (this.selected.length === 2) this.interpolate();
      else this.renderInterpolation(null);
      this.decodeHere();                 // the explorer's base code may have changed
    },

    async interpolate() {
      const [a, b] = this.selected.map((i) => this.codes[i]);
      const latents = Array.from({ length: STEPS }, (_, s) => {
        const t = s / (STEPS - 1);
        return a.map((v, d) => v + (b[d] - v) * t);
      });
      const seq = ++this.interpSeq;
      try {
        const data = await api(runPath(this.run, "sample"), { body: { latents } });
        if (seq === this.interpSeq) { clearError("sample-error"); this.renderInterpolation(data.images || []); }
      } catch (exc) {
        if (seq === this.interpSeq) showError("sample-error", exc.message);
      }
    },

    renderInterpolation(images) {
      const box = $("interpolation");
      if (!images) {
        this.interpSeq++;
        box.replaceChildren(el("span", { class: "empty-note" },
          this.selected.length === 1 ? "Click one more sample." : "Click two samples."));
        return;
      }
      box.replaceChildren(...images.map((src, i) => el("img", {
        class: `interp${i === 0 || i === images.length - 1 ? " end" : ""}`, src, alt: `step ${i + 1}`,
      })));
    },

    base() {
      const first = this.selected.length ? this.codes[this.selected[0]] : null;
      return first ? first.slice() : new Array(this.latentSize).fill(0);
    },

    explore(e) {
      if (e.pointerType !== "mouse" && !e.buttons) return;   // fingers explore while touching
      const rect = $("explorer").getBoundingClientRect();
      const fx = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
      const fy = Math.min(1, Math.max(0, (e.clientY - rect.top) / rect.height));
      this.position = [(fx * 2 - 1) * RANGE, (1 - fy * 2) * RANGE];   // up is +
      this.placeDot();
      this.decodeHere();
    },

    placeDot() {
      const dot = $("explorer-dot");
      dot.style.left = `${((this.position[0] / RANGE + 1) / 2) * 100}%`;
      dot.style.top = `${((1 - this.position[1] / RANGE) / 2) * 100}%`;
    },

    /** Decodes the base code with the two chosen dimensions set to the explorer's position. */
    decodeHere() {
      if (!this.run) return;
      const code = this.base();
      const dx = Number($("explorer-x").value), dy = Number($("explorer-y").value);
      code[dx] = this.position[0];
      if (dy !== dx) code[dy] = this.position[1];
      const base = this.selected.length ? `sample ${this.selected[0] + 1}` : "zeros";
      $("explorer-readout").textContent = `z${dx} = ${this.position[0].toFixed(2)}` +
        (dy !== dx ? `, z${dy} = ${this.position[1].toFixed(2)}` : "") + ` · base: ${base}`;
      this.pending = code;
      this.decodeNext();
    },

    /** At most one decode in flight; when it returns, the newest waiting code goes next. */
    async decodeNext() {
      if (this.inFlight || !this.pending) return;
      const code = this.pending;
      this.pending = null;
      this.inFlight = true;
      try {
        const data = await api(runPath(this.run, "sample"), { body: { latents: [code] } });
        if (data.images && data.images[0]) $("explorer-digit").src = data.images[0];
      } catch (exc) {
        showError("sample-error", exc.message);
      } finally {
        this.inFlight = false;
        this.decodeNext();
      }
    },
  };

  // ------------------------------------------------------------------ maze

  const TILES_PER_SECOND = 8;
  const ARROW = { 0: [0, -1], 1: [1, 0], 2: [0, 1], 3: [-1, 0] };   // action -> [dx, dy] on the canvas
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  /** A colour of the viridis scale for t in [0, 1]. */
  function viridis(t) {
    const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    const [r, g, b] = VIRIDIS[i].map((v, k) => Math.round(v + (VIRIDIS[i + 1][k] - v) * f));
    return `rgb(${r},${g},${b})`;
  }

  const solve = {
    run: null,
    result: null,
    cell: 40,
    frame: 0,
    seq: 0,

    init() {
      $("maze-go").addEventListener("click", () => this.go());
      $("maze-new").addEventListener("click", () => { $("maze-seed").value = randomSeed() % 10000; this.go(); });
    },

    open(run) {
      this.run = run;
      const info = run.info || {};
      const random = Boolean(info.random_mazes);
      for (const node of document.querySelectorAll("#panel-solve .random-only")) node.hidden = !random;
      if (info.width) $("maze-width").value = info.width;
      if (info.height) $("maze-height").value = info.height;
      $("solve-howto").textContent = random
        ? "This agent learned on random mazes: pick a seed and a size (or New maze) and press Solve to watch it walk one it has never seen."
        : "This agent learned one fixed maze: press Solve to watch it walk it.";
      this.go();
    },

    leave() { cancelAnimationFrame(this.frame); },

    request() {
      if (!(this.run.info && this.run.info.random_mazes)) return {};
      return {
        seed: Math.round(numberOr($("maze-seed"), 0)),
        width: Math.round(numberOr($("maze-width"), this.run.info.width || 5)),
        height: Math.round(numberOr($("maze-height"), this.run.info.height || 5)),
      };
    },

    async go() {
      const seq = ++this.seq;
      $("maze-go").disabled = true;
      try {
        const data = await api(runPath(this.run, "solve"), { body: this.request() });
        if (seq !== this.seq) return;
        clearError("solve-error");
        $("maze").classList.remove("stale");
        this.result = data;
        this.showStatus(data);
        this.prepare(data);
        this.animate();
      } catch (exc) {
        if (seq !== this.seq) return;
        showError("solve-error", exc.message);
        $("maze-status").textContent = "";         // the maze still drawn is the previous one
        $("maze").classList.add("stale");
      } finally {
        if (seq === this.seq) $("maze-go").disabled = false;
      }
    },

    showStatus(data) {
      const status = $("maze-status");
      status.textContent = data.success
        ? `solved in ${data.steps} steps` + (data.optimal !== null && data.optimal !== undefined ? ` (optimal ${data.optimal})` : "")
        : "not solved";
      status.classList.toggle("good", Boolean(data.success));
      status.classList.toggle("bad", !data.success);
    },

    /** Sizes the canvas and draws the still parts (tiles, heatmap, arrows, S and G) once, off screen. */
    prepare(data) {
      const { rows, cols } = data.maze;
      this.cell = Math.max(12, Math.min(64, Math.floor(480 / Math.max(rows, cols))));
      const dpr = window.devicePixelRatio || 1;
      const canvas = $("maze");
      canvas.width = Math.round(cols * this.cell * dpr);
      canvas.height = Math.round(rows * this.cell * dpr);
      canvas.style.width = `${cols * this.cell}px`;
      this.still = document.createElement("canvas");
      this.still.width = canvas.width;
      this.still.height = canvas.height;
      const ctx = this.still.getContext("2d");
      ctx.scale(dpr, dpr);
      this.drawTiles(ctx, data);
      this.drawMarks(ctx, data.maze);
    },

    qRange(q) {
      const values = (q || []).flat().filter((v) => typeof v === "number" && Number.isFinite(v));
      if (!values.length) return null;
      return [Math.min(...values), Math.max(...values)];
    },

    drawTiles(ctx, data) {
      const { rows, cols, walls } = data.maze;
      const size = this.cell;
      const range = this.qRange(data.q_max);
      $("maze-legend-min").textContent = range ? fmt(range[0], 3) : "";
      $("maze-legend-max").textContent = range ? fmt(range[1], 3) : "";
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const x = c * size, y = r * size;
          if (walls[r][c]) {
            ctx.fillStyle = "#2a2a2a";
            ctx.fillRect(x, y, size, size);
            ctx.fillStyle = "#3a3a3a";
            ctx.fillRect(x, y, size, Math.max(2, size * 0.12));   // a lit top edge, so walls read as blocks
            continue;
          }
          const q = data.q_max && data.q_max[r] ? data.q_max[r][c] : null;
          const t = range && typeof q === "number" ? (range[1] > range[0] ? (q - range[0]) / (range[1] - range[0]) : 1) : null;
          const isGoal = data.maze.goal && data.maze.goal[0] === r && data.maze.goal[1] === c;
          ctx.fillStyle = t !== null ? viridis(t) : isGoal ? "#4a3d0c" : "#555";
          ctx.fillRect(x, y, size, size);
          const action = data.actions && data.actions[r] ? data.actions[r][c] : -1;
          if (ARROW[action]) this.drawArrow(ctx, x + size / 2, y + size / 2, ARROW[action], t);
        }
      }
      ctx.strokeStyle = "rgba(0,0,0,0.35)";
      ctx.lineWidth = 1;
      for (let r = 0; r <= rows; r++) { ctx.beginPath(); ctx.moveTo(0, r * size); ctx.lineTo(cols * size, r * size); ctx.stroke(); }
      for (let c = 0; c <= cols; c++) { ctx.beginPath(); ctx.moveTo(c * size, 0); ctx.lineTo(c * size, rows * size); ctx.stroke(); }
    },

    drawArrow(ctx, cx, cy, [dx, dy], t) {
      const len = this.cell * 0.3;
      ctx.save();
      ctx.translate(cx, cy);
      ctx.rotate(Math.atan2(dy, dx));
      ctx.fillStyle = t !== null && t > 0.7 ? "rgba(0,0,0,0.55)" : "rgba(255,255,255,0.7)";
      ctx.beginPath();
      ctx.moveTo(len, 0);
      ctx.lineTo(-len * 0.6, len * 0.6);
      ctx.lineTo(-len * 0.25, 0);
      ctx.lineTo(-len * 0.6, -len * 0.6);
      ctx.closePath();
      ctx.fill();
      ctx.restore();
    },

    drawMarks(ctx, maze) {
      const size = this.cell;
      const mark = ([r, c], colour, letter) => {
        ctx.strokeStyle = colour;
        ctx.lineWidth = Math.max(2, size * 0.08);
        ctx.strokeRect(c * size + ctx.lineWidth / 2, r * size + ctx.lineWidth / 2, size - ctx.lineWidth, size - ctx.lineWidth);
        ctx.fillStyle = colour;
        ctx.font = `bold ${Math.round(size * 0.34)}px system-ui, sans-serif`;
        ctx.textAlign = "left";
        ctx.textBaseline = "top";
        ctx.fillText(letter, c * size + size * 0.12, r * size + size * 0.1);
      };
      if (maze.start) mark(maze.start, "#46d369", "S");
      if (maze.goal) mark(maze.goal, "#f5c518", "G");
    },

    /** Moves the agent along the path at TILES_PER_SECOND, drawing its trail behind it. */
    animate() {
      cancelAnimationFrame(this.frame);
      const path = this.result.path || [];
      const started = performance.now();
      const tick = (now) => {
        // a frame's time can be a little before `started`: clamp to the path
        const progress = Math.min(path.length - 1, Math.max(0, ((now - started) / 1000) * TILES_PER_SECOND));
        this.drawFrame(path, progress);
        if (progress < path.length - 1) this.frame = requestAnimationFrame(tick);
      };
      this.frame = requestAnimationFrame(tick);
    },

    drawFrame(path, progress) {
      const canvas = $("maze");
      const ctx = canvas.getContext("2d");
      const dpr = canvas.width / (this.result.maze.cols * this.cell);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(this.still, 0, 0);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (!path.length) return;
      const centre = ([r, c]) => [(c + 0.5) * this.cell, (r + 0.5) * this.cell];
      const i = Math.floor(progress), f = progress - i;
      const a = centre(path[i]), b = centre(path[Math.min(i + 1, path.length - 1)]);
      const here = [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
      ctx.strokeStyle = "rgba(255,255,255,0.85)";
      ctx.lineWidth = Math.max(2, this.cell * 0.1);
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(...centre(path[0]));
      for (let k = 1; k <= i; k++) ctx.lineTo(...centre(path[k]));
      ctx.lineTo(...here);
      ctx.stroke();
      ctx.fillStyle = "#e50914";
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(here[0], here[1], this.cell * 0.25, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    },
  };

  // ------------------------------------------------------------------ start

  const PANELS = { recommend, predict, generate, sample, solve };

  function start() {
    readHash();                          // stores a #token=... before the first call
    state.newToken = false;
    for (const panel of Object.values(PANELS)) panel.init();
    $("tab-home").addEventListener("click", goHome);
    $("brand").addEventListener("click", (e) => { e.preventDefault(); goHome(); });
    window.addEventListener("hashchange", route);
    window.addEventListener("popstate", route);
    loadRuns().then(route);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
