// mcpwarden report: copy buttons on every page, and the index page's search over the
// catalogue. Search data arrives as data/servers-NNNNN.js files that call MCPW.chunk();
// they are loaded one after another with <script> tags because pages opened from
// file:// may not fetch(). Catalogue text only ever reaches the page via textContent.
"use strict";
(function () {
  var MCPW = (window.MCPW = window.MCPW || {});
  var PAGE_SIZE = 50;
  var RISK_ORDER = { Critical: 4, High: 3, Medium: 2, Low: 1 };

  var manifest = null;
  var servers = []; // {name, slug, title, tools: [...], hay}
  var tools = []; // {server, name, slug, category, risk, description, hay}
  var filesLoaded = 0;
  var matches = [];
  var state = { q: "", view: "tools", category: "", risk: "", sort: "name", page: 0 };

  MCPW.loaded = false;
  MCPW.error = null;

  MCPW.manifest = function (value) {
    manifest = value;
  };

  MCPW.chunk = function (_index, rows) {
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var server = { name: row[0], slug: row[1], title: row[2] || "", tools: [], hay: "" };
      var names = [];
      for (var j = 0; j < row[3].length; j++) {
        var t = row[3][j];
        var tool = {
          server: server,
          name: t[0],
          slug: t[1],
          category: t[2] || "",
          risk: t[3] || "",
          description: t[4] || "",
        };
        tool.hay = (tool.name + " " + server.name + " " + tool.description).toLowerCase();
        server.tools.push(tool);
        tools.push(tool);
        names.push(tool.name);
      }
      server.hay = (server.name + " " + server.title + " " + names.join(" ")).toLowerCase();
      servers.push(server);
    }
  };

  function $(id) {
    return document.getElementById(id);
  }

  function setupCopyButtons() {
    var buttons = document.querySelectorAll("button.copy");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", onCopy);
    }
  }

  function onCopy(event) {
    var button = event.currentTarget;
    var source = $(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () {
        button.textContent = "Copy";
      }, 1500);
    };
    // The Clipboard API needs a secure context; fall back to a selection copy elsewhere.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {
        fallbackCopy(text) && done();
      });
    } else if (fallbackCopy(text)) {
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok;
  }

  // ---- index page -------------------------------------------------------------------

  function readHash() {
    var text = location.hash.replace(/^#/, "");
    if (!text) return;
    var parts = text.split("&");
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("=");
      var key = decodeURIComponent(kv[0] || "");
      var value = decodeURIComponent((kv[1] || "").replace(/\+/g, " "));
      if (key === "page") state.page = Math.max(0, parseInt(value, 10) - 1 || 0);
      else if (Object.prototype.hasOwnProperty.call(state, key)) state[key] = value;
    }
  }

  function writeHash() {
    var parts = [];
    ["q", "view", "category", "risk", "sort"].forEach(function (key) {
      var defaults = { view: "tools", sort: "name" };
      if (state[key] && state[key] !== defaults[key]) {
        parts.push(key + "=" + encodeURIComponent(state[key]));
      }
    });
    if (state.page > 0) parts.push("page=" + (state.page + 1));
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (hash !== location.hash) {
      // Keeps the search when coming back from a page; some browsers refuse this on file://.
      try {
        history.replaceState(null, "", hash || location.pathname + location.search);
      } catch (e) {
        /* the search still works, it is just not remembered */
      }
    }
  }

  function matchesFilter(value, wanted) {
    if (!wanted) return true;
    if (wanted === "none") return value === "";
    return value === wanted;
  }

  function filter() {
    var words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    var hasAll = function (hay) {
      for (var i = 0; i < words.length; i++) if (hay.indexOf(words[i]) < 0) return false;
      return true;
    };
    var toolOk = function (tool) {
      return matchesFilter(tool.category, state.category) && matchesFilter(tool.risk, state.risk);
    };
    var result = [];
    if (state.view === "servers") {
      var filtering = state.category || state.risk;
      for (var i = 0; i < servers.length; i++) {
        var server = servers[i];
        if (!hasAll(server.hay)) continue;
        if (filtering && !server.tools.some(toolOk)) continue;
        result.push(server);
      }
      if (state.sort === "risk") {
        result.sort(function (a, b) {
          return highest(b) - highest(a) || b.tools.length - a.tools.length;
        });
      }
    } else {
      for (var k = 0; k < tools.length; k++) {
        var tool = tools[k];
        if (toolOk(tool) && hasAll(tool.hay)) result.push(tool);
      }
      if (state.sort === "risk") {
        result.sort(function (a, b) {
          return (RISK_ORDER[b.risk] || 0) - (RISK_ORDER[a.risk] || 0);
        });
      }
    }
    matches = result;
  }

  function highest(server) {
    if (server.top === undefined) {
      server.top = 0;
      for (var i = 0; i < server.tools.length; i++) {
        server.top = Math.max(server.top, RISK_ORDER[server.tools[i].risk] || 0);
      }
    }
    return server.top;
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (text !== undefined) td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function link(text, href) {
    var a = document.createElement("a");
    a.textContent = text;
    a.setAttribute("href", href);
    return a;
  }

  function badge(value, prefix) {
    var span = document.createElement("span");
    if (value) {
      span.className = "badge " + prefix + value.toLowerCase();
      span.textContent = value;
    } else {
      span.className = "badge unclassified";
      span.textContent = "not classified";
    }
    return span;
  }

  function header(names) {
    var head = $("results-head");
    head.textContent = "";
    var tr = document.createElement("tr");
    names.forEach(function (name) {
      var th = document.createElement("th");
      th.textContent = name;
      tr.appendChild(th);
    });
    head.appendChild(tr);
  }

  function render() {
    var pages = Math.max(1, Math.ceil(matches.length / PAGE_SIZE));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * PAGE_SIZE;
    var body = $("results-body");
    body.textContent = "";
    if (state.view === "servers") {
      header(["server", "title", "tools", "highest risk"]);
    } else {
      header(["tool", "server", "category", "risk", "description"]);
    }
    var slice = matches.slice(start, start + PAGE_SIZE);
    for (var i = 0; i < slice.length; i++) {
      var tr = document.createElement("tr");
      if (state.view === "servers") {
        var server = slice[i];
        tr.className = "server-row";
        cell(tr).appendChild(link(server.name, "servers/" + server.slug + "/index.html"));
        cell(tr, server.title);
        cell(tr, String(server.tools.length));
        var top = highest(server);
        var name = "";
        for (var key in RISK_ORDER) if (RISK_ORDER[key] === top) name = key;
        cell(tr).appendChild(badge(name, "risk-"));
      } else {
        var tool = slice[i];
        tr.className = "tool-row";
        var base = "servers/" + tool.server.slug + "/";
        cell(tr, undefined, "tool-name").appendChild(link(tool.name, base + tool.slug + ".html"));
        cell(tr).appendChild(link(tool.server.name, base + "index.html"));
        cell(tr).appendChild(badge(tool.category, "cat-"));
        cell(tr, undefined, "risk").appendChild(badge(tool.risk, "risk-"));
        cell(tr, tool.description);
      }
      body.appendChild(tr);
    }
    var total = state.view === "servers" ? servers.length : tools.length;
    var unit = state.view === "servers" ? "servers" : "tools";
    var status = matches.length.toLocaleString() + " of " + total.toLocaleString() + " " + unit + " match";
    if (!MCPW.loaded && manifest) {
      status += " (loading: " + tools.length.toLocaleString() + " of " + manifest.tools.toLocaleString() + " tools so far)";
    }
    $("status").textContent = status;
    $("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    writeHash();
  }

  function refresh() {
    filter();
    render();
  }

  function setupIndex() {
    readHash();
    $("search").value = state.q;
    ["view", "category", "risk", "sort"].forEach(function (id) {
      $(id).value = state[id];
      $(id).addEventListener("change", function () {
        state[id] = $(id).value;
        state.page = 0;
        refresh();
      });
    });
    var timer = null;
    $("search").addEventListener("input", function () {
      clearTimeout(timer);
      // A short pause between keystrokes, so 100,000 rows are scanned once per word.
      timer = setTimeout(function () {
        state.q = $("search").value;
        state.page = 0;
        refresh();
      }, 120);
    });
    $("filters").addEventListener("submit", function (event) {
      event.preventDefault();
    });
    $("prev").addEventListener("click", function () {
      state.page = Math.max(0, state.page - 1);
      render();
    });
    $("next").addEventListener("click", function () {
      state.page += 1;
      render();
    });
    if (!manifest) {
      $("status").textContent = "The search data (data/manifest.js) could not be loaded.";
      MCPW.error = "no manifest";
      return;
    }
    loadNext();
  }

  // Loads the chunks in order; the first one shows a page, later ones refresh now and then.
  function loadNext() {
    if (filesLoaded >= manifest.files.length) {
      MCPW.loaded = true;
      refresh();
      return;
    }
    var script = document.createElement("script");
    script.src = "data/" + manifest.files[filesLoaded];
    script.onload = function () {
      filesLoaded += 1;
      if (filesLoaded === 1 || filesLoaded % 10 === 0) refresh();
      loadNext();
    };
    script.onerror = function () {
      MCPW.error = "could not load " + script.src;
      $("status").textContent = "Could not load " + script.src + "; the search shows what loaded before it.";
    };
    document.head.appendChild(script);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupCopyButtons();
    if ($("results-body")) setupIndex();
  });
})();
