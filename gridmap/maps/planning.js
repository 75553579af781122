/* The planner's boundary editor (templates/planning/editor.html): every grid, check,
   preview and generation from /api/planning/...; each edit's answer redraws the map
   from the FeatureCollection the server returns (the server is the source of truth).
   Planner-written and file-borne text only ever reaches the page through textContent
   (tooltips get elements, never strings: Leaflet would set a string as HTML). */
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }
  var config = JSON.parse($("planning-config").textContent);
  var text = JSON.parse($("texts").textContent);
  var map = window[config.map], frame = window.gridmapFrame;
  var csrf = (document.querySelector("input[name=csrf_token]") || {}).value || "";
  var FIXABLE = ["gap", "sliver_gap", "sliver_overlap"];
  var ui = {
    features: [], active: config.active, draft: null, generations: [], entries: {},
    canUndo: false, canRedo: false, edits: 0, selected: [], mode: null, points: [],
    issues: null, busy: false
  };

  /* -- small helpers ---------------------------------------------------------- */
  function el(tag, content, cls) {
    var node = document.createElement(tag);
    if (content !== undefined && content !== null) node.textContent = String(content);
    if (cls) node.className = cls;
    return node;
  }
  function fmt(key, params) {
    var s = text[key] || key;
    Object.keys(params || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(params[k])); });
    return s;
  }
  function row(cells, cls) {
    var tr = el("tr", null, cls);
    cells.forEach(function (c) {
      var td = el("td");
      if (c && c.nodeType) td.appendChild(c);
      else if (c && typeof c === "object") { td.textContent = c.text; td.className = c.cls || ""; }
      else td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function status(message, error) {
    var s = $("status");
    s.textContent = message || "";
    s.className = error ? "error" : "";
  }
  /* a check message is "中文 / English" (Msg.bilingual): the page's language's half */
  function localized(message) {
    var s = String(message || ""), cut = s.indexOf(" / ");
    if (cut < 0) return s;
    return config.lang === "en" ? s.slice(cut + 3) : s.slice(0, cut);
  }
  function short(code) { return code ? String(code).slice(-3) : "?"; }
  function codeOf(f) { return (f.properties || {}).grid_code || null; }
  function nameOf(f) {
    var p = f.properties || {};
    return (config.lang === "en" && p.name_en) || p.name || "";
  }

  function api(method, path, body) {
    var opts = {method: method, credentials: "same-origin",
                headers: {Accept: "application/json", "X-CSRF-Token": csrf}};
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
    var sep = path.indexOf("?") < 0 ? "?" : "&";
    return fetch(config.api + path + sep + "lang=" + config.lang, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        if (!r.ok) {
          var err = new Error(b.message || String(r.status));
          err.status = r.status; err.body = b;
          throw err;
        }
        return b;
      });
    });
  }
  function failed(err) {
    ui.busy = false;
    status(err && err.message ? err.message : text.load_failed, true);
    throw err;
  }

  /* -- coordinates: the API speaks WGS 84, the map may be drawn in GCJ-02 ----- */
  function shown(coords, depth) {
    if (depth === 0) {
      var ll = frame.display(coords[0], coords[1]);
      return [ll.lng, ll.lat];
    }
    return coords.map(function (c) { return shown(c, depth - 1); });
  }
  function displayGeometry(geom) {
    if (!geom) return null;
    if (geom.type === "GeometryCollection") {
      var parts = (geom.geometries || []).map(displayGeometry).filter(Boolean);
      return parts.length ? {type: geom.type, geometries: parts} : null;
    }
    var depth = {Polygon: 2, MultiPolygon: 3, LineString: 1, MultiLineString: 2, Point: 0,
                 MultiPoint: 1}[geom.type];
    if (depth === undefined) return null;
    return {type: geom.type, coordinates: shown(geom.coordinates, depth)};
  }
  function isPoint(geom) { return !geom || geom.type === "Point" || geom.type === "MultiPoint"; }
  function displayFeatures(features) {
    return {type: "FeatureCollection", features: features.map(function (f, i) {
      return {type: "Feature", properties: {index: i, grid_code: codeOf(f)},
              geometry: displayGeometry(f.geometry)};
    }).filter(function (f) { return f.geometry; })};
  }
  function toWgs(latlng) {
    var p = frame.wgs84(latlng);
    return [Number(p.lon.toFixed(8)), Number(p.lat.toFixed(8))];
  }

  /* -- map layers -------------------------------------------------------------- */
  var gridsLayer = L.geoJSON(null, {
    style: function (f) {
      var picked = ui.selected.indexOf(f.properties.grid_code) >= 0;
      var fresh = ui.draft && (ui.entries[ui.draft] || {}).new_codes &&
        ui.entries[ui.draft].new_codes.indexOf(f.properties.grid_code) >= 0;
      return {color: picked ? "#d94801" : "#08519c", weight: picked ? 3 : 1.5,
              fillColor: picked ? "#fd8d3c" : fresh ? "#a1d99b" : "#9ecae1",
              fillOpacity: picked ? 0.35 : 0.2};
    },
    onEachFeature: function (f, layer) {
      layer.bindTooltip(el("span", short(f.properties.grid_code)), {permanent: true, direction: "center",
                                                         className: "code-label"});
      layer.on("click", function () { if (!ui.mode) pick(f.properties.grid_code); });
    }
  }).addTo(map);
  var issuesLayer = L.layerGroup().addTo(map);
  var previewLayer = L.layerGroup().addTo(map);
  var vertexLayer = L.layerGroup().addTo(map);
  var drawLayer = L.layerGroup().addTo(map);
  var legend = L.control({position: "bottomleft"});
  legend.onAdd = function () { return el("div", text.pl_diff_legend, "legend"); };
  window.gridmapPlanning = {map: map, ui: ui, grids: gridsLayer, issues: issuesLayer,
                            preview: previewLayer, vertices: vertexLayer};

  function fitAll() {
    if (gridsLayer.getLayers().length) map.fitBounds(gridsLayer.getBounds());
  }

  function layerOf(code) {
    var found = null;
    gridsLayer.eachLayer(function (l) { if (l.feature.properties.grid_code === code) found = l; });
    return found;
  }

  /* -- drawing the state ---------------------------------------------------------- */
  function render() {
    var folium = window[config.grids_layer];
    if (folium && map.hasLayer(folium)) map.removeLayer(folium);  // ours from now on
    gridsLayer.clearLayers();
    gridsLayer.addData(displayFeatures(ui.features));
    ui.selected = ui.selected.filter(function (c) { return layerOf(c); });
    renderInfo();
    renderList();
    renderForm();
    renderIssues();
    if (ui.mode === "vertex") drawVertices();
    $("undo").disabled = !ui.canUndo;
    $("redo").disabled = !ui.canRedo;
  }

  function renderInfo() {
    var box = clear($("gen-info")), dl = el("dl");
    function item(term, value) { dl.appendChild(el("dt", term)); dl.appendChild(el("dd", value)); }
    item(text.pl_generation, fmt("pl_active", {n: ui.active}));
    item(text.pl_status_draft, ui.draft ? fmt("pl_generation_n", {n: ui.draft}) : text.pl_none);
    if (ui.draft) item(text.pl_tab_grids, fmt("pl_grids_count", {n: ui.features.length}) +
                       text.list_sep + fmt("pl_edits_count", {n: ui.edits}));
    box.appendChild(dl);
    if (!ui.draft) box.appendChild(el("p", text.pl_no_draft, "muted"));
    $("grid-count").textContent = "(" + ui.features.length + ")";
  }

  function teamText(code) {
    var entry = ui.draft && ui.entries[ui.draft];
    if (entry && entry.team_from && Object.prototype.hasOwnProperty.call(entry.team_from, code)) {
      var from = entry.team_from[code];
      return from ? fmt("pl_team_from", {code: short(from)}) : text.vacant;
    }
    var team = config.teams[code];
    if (!team) return text.vacant;
    var head = team.head || text.vacant;
    return head + " · " + (team.vacant ? fmt("pl_slots_vacant", {n: team.vacant}) : text.pl_team_full);
  }

  function renderList() {
    var body = clear($("grid-list").querySelector("tbody"));
    ui.features.map(function (f, i) { return {f: f, i: i}; }).sort(function (a, b) {
      return String(codeOf(a.f) || "~" + a.i).localeCompare(String(codeOf(b.f) || "~" + b.i));
    }).forEach(function (item) {
      var code = codeOf(item.f);
      var tr = row([code || "—", nameOf(item.f), teamText(code)],
                   "pick" + (ui.selected.indexOf(code) >= 0 ? " selected" : ""));
      tr.dataset.code = code || "";
      tr.addEventListener("click", function () {
        if (!code) return;
        pick(code);
        var layer = layerOf(code);
        if (layer) map.fitBounds(layer.getBounds(), {maxZoom: 17});
      });
      body.appendChild(tr);
    });
  }

  function featureOf(code) {
    for (var i = 0; i < ui.features.length; i++) if (codeOf(ui.features[i]) === code) return ui.features[i];
    return null;
  }

  function renderForm() {
    var form = $("grid-form"), code = ui.selected[ui.selected.length - 1];
    var f = ui.selected.length === 1 && featureOf(code);
    form.hidden = !f;
    if (!f) return;
    $("grid-form-title").textContent = code;
    $("grid-code").value = code;
    $("grid-name").value = (f.properties || {}).name || "";
    $("grid-name-en").value = (f.properties || {}).name_en || "";
    var entry = ui.draft && ui.entries[ui.draft];
    var isNew = entry && (entry.new_codes || []).indexOf(code) >= 0;
    $("team-row").hidden = !isNew;
    if (isNew) {
      var select = clear($("grid-team"));
      var vacant = el("option", text.vacant); vacant.value = ""; select.appendChild(vacant);
      ((ui.entries[ui.active] || {}).codes || []).forEach(function (c) {
        var o = el("option", c); o.value = c; select.appendChild(o);
      });
      select.value = (entry.team_from || {})[code] || "";
    }
  }

  function pick(code) {
    var at = ui.selected.indexOf(code);
    if (at >= 0) ui.selected.splice(at, 1);
    else {
      ui.selected.push(code);
      if (ui.selected.length > 2) ui.selected.shift();
    }
    gridsLayer.setStyle(gridsLayer.options.style);
    renderList();
    renderForm();
    status(ui.selected.length ? fmt("pl_pick_grid", {codes: ui.selected.map(short).join(text.list_sep)}) : "");
  }

  /* -- vertices: every distinct point of every ring, shared ones in red ------------ */
  function drawVertices() {
    vertexLayer.clearLayers();
    var seen = {};
    ui.features.forEach(function (f) {
      var g = f.geometry;
      if (!g) return;
      var polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      polys.forEach(function (rings) {
        rings.forEach(function (ring) {
          ring.slice(0, -1).forEach(function (c) {
            var key = c[0] + "," + c[1];
            if (!seen[key]) seen[key] = {at: c, grids: {}};
            seen[key].grids[codeOf(f)] = true;
          });
        });
      });
    });
    Object.keys(seen).forEach(function (key) {
      var v = seen[key], shared = Object.keys(v.grids).length > 1;
      var marker = L.marker(frame.display(v.at[0], v.at[1]), {
        draggable: true, keyboard: false,
        icon: L.divIcon({className: "vertex" + (shared ? " shared" : ""), iconSize: [12, 12]})
      });
      marker.on("dragend", function () {
        edit({op: "move_vertex", at: v.at, to: toWgs(marker.getLatLng())});
      });
      vertexLayer.addLayer(marker);
    });
  }

  /* -- issues of the check ---------------------------------------------------------- */
  function renderIssues() {
    issuesLayer.clearLayers();
    var body = clear($("problems").querySelector("tbody")), summary = $("check-summary");
    var report = ui.issues;
    if (!report) { summary.textContent = ui.draft ? "" : text.pl_no_draft; return; }
    summary.textContent = report.ok && !report.issues.length ? text.pl_no_problems :
      fmt("pl_problems_count", {errors: report.error_count, warnings: report.warning_count});
    summary.className = report.ok ? "" : "error-message";
    report.issues.forEach(function (issue) {
      var message = localized(issue.message);
      var fix = null;
      if (FIXABLE.indexOf(issue.kind) >= 0 && issue.location) {
        fix = el("button", text.pl_fix);
        fix.type = "button";
        fix.className = "fix";
        fix.addEventListener("click", function (e) {
          e.stopPropagation();
          edit({op: "fix", problem: {kind: issue.kind, location: issue.location,
                                     grid_codes: issue.grid_codes}});
        });
      }
      var codes = (issue.grid_codes || []).map(function (c) { return c ? short(c) : "?"; });
      var tr = row([message, codes.join(text.list_sep), fix || ""], "pick problem " + issue.severity);
      tr.dataset.kind = issue.kind;
      var shape = issueLayer(issue);
      tr.addEventListener("click", function () { zoomTo(issue, shape); });
      body.appendChild(tr);
      if (shape) {
        shape.bindTooltip(el("span", message));
        shape.on("click", function () { if (!ui.mode) zoomTo(issue, shape); });
        issuesLayer.addLayer(shape);
      }
    });
  }
  /* a problem's own geometry (an overlap, a gap, a part outside, a broken ring); a
     problem at a point (or without a geometry) is a marker at its location */
  function issueLayer(issue) {
    var color = issue.severity === "error" ? "#b22222" : "#b36b00";
    var geom = displayGeometry(issue.geometry), cls = "issue issue-" + issue.kind;
    if (geom && !isPoint(geom)) {
      return L.geoJSON({type: "Feature", properties: {}, geometry: geom}, {
        style: {color: color, weight: 3, opacity: 0.9, fillColor: color, fillOpacity: 0.35,
                className: cls}
      });
    }
    if (!issue.location) return null;
    return L.circleMarker(frame.display(issue.location[0], issue.location[1]), {
      radius: 9, color: color, weight: 3, fillColor: "#fff", fillOpacity: 0.6,
      className: cls + " issue-point"
    });
  }
  function zoomTo(issue, shape) {
    if (shape && shape.getBounds) {
      map.fitBounds(shape.getBounds(), {maxZoom: Math.max(map.getZoom(), 18)});
    } else if (issue.location) {
      map.setView(frame.display(issue.location[0], issue.location[1]), Math.max(map.getZoom(), 18));
    } else {
      var bounds = null;
      (issue.grid_codes || []).forEach(function (c) {
        var l = c && layerOf(c);
        if (l) bounds = bounds ? bounds.extend(l.getBounds()) : L.latLngBounds(l.getBounds().getSouthWest(), l.getBounds().getNorthEast());
      });
      if (bounds) map.fitBounds(bounds, {maxZoom: 18});
    }
    status(localized(issue.message));
  }

  /* -- loading ---------------------------------------------------------------------- */
  function loadGenerations() {
    return api("GET", "/generations").then(function (doc) {
      ui.active = doc.active;
      ui.draft = doc.draft || null;
      ui.generations = doc.generations;
      ui.entries = {};
      doc.generations.forEach(function (g) { ui.entries[g.number] = g; });
      renderGenerations();
    });
  }
  function load() {
    status(text.loading);
    return loadGenerations().then(function () {
      if (ui.draft) {
        return api("GET", "/draft").then(function (doc) {
          ui.features = doc.features;
          ui.issues = doc.check;
          ui.canUndo = !!doc.can_undo; ui.canRedo = !!doc.can_redo;
          ui.edits = doc.edits || 0;
        });
      }
      return api("GET", "/generations/" + ui.active).then(function (doc) {
        ui.features = doc.features;
        ui.issues = null;
        ui.canUndo = ui.canRedo = false;
        ui.edits = 0;
      });
    }).then(function () { render(); status(""); }).catch(failed);
  }

  /* -- edits ------------------------------------------------------------------------ */
  function answered(doc) {
    ui.features = doc.features.features || doc.features;
    ui.issues = doc.issues || doc.check || null;
    ui.canUndo = !!doc.can_undo; ui.canRedo = !!doc.can_redo;
    ui.edits = doc.edits || 0;
    var fresh = ui.draft !== doc.draft;
    ui.draft = doc.draft;
    return loadGenerations().then(function () {
      ui.busy = false;
      render();
      status(text.pl_saved + (fresh ? text.list_sep + fmt("pl_draft", {n: doc.draft}) : ""));
    }, function (err) { ui.busy = false; render(); throw err; });
  }
  function edit(body) {
    if (ui.busy) return Promise.resolve();
    ui.busy = true;
    status(text.loading);
    return api("POST", "/draft/edits", body).then(answered).catch(function (err) {
      ui.busy = false;
      render();  // a refused drag puts the vertex back
      status(err.message, true);
    });
  }
  function step(which) {
    if (ui.busy || !(which === "undo" ? ui.canUndo : ui.canRedo)) return;
    ui.busy = true;
    api("POST", "/draft/" + which).then(answered).catch(function (err) {
      ui.busy = false; status(err.message, true);
    });
  }
  $("undo").addEventListener("click", function () { step("undo"); });
  $("redo").addEventListener("click", function () { step("redo"); });
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test((e.target || {}).tagName || "");
    if (e.key === "Escape" && ui.mode) { endMode(); return; }
    if (e.key === "Enter" && ui.points.length && !typing) { finishDrawing(); return; }
    if (typing || !(e.ctrlKey || e.metaKey)) return;
    var key = e.key.toLowerCase();
    if (key === "z" && !e.shiftKey) { e.preventDefault(); step("undo"); }
    else if (key === "y" || (key === "z" && e.shiftKey)) { e.preventDefault(); step("redo"); }
  });

  /* -- tools -------------------------------------------------------------------------- */
  var TOOLS = ["vertex", "split", "redraw", "add"];
  function setMode(mode) {
    ui.mode = mode;
    ui.points = [];
    drawLayer.clearLayers();
    vertexLayer.clearLayers();
    TOOLS.forEach(function (t) {
      var b = $("tool-" + t);
      b.setAttribute("aria-pressed", String(t === mode));
    });
    var drawing = mode === "split" || mode === "redraw" || mode === "add";
    $("draw-finish").hidden = !drawing;
    $("draw-cancel").hidden = !mode;
    map.getContainer().style.cursor = drawing ? "crosshair" : "";
    if (drawing) map.doubleClickZoom.disable(); else map.doubleClickZoom.enable();
    if (mode === "vertex") { drawVertices(); status(text.pl_vertex_hint); }
    else if (drawing) status(mode === "add" ? text.pl_draw_polygon_hint : text.pl_draw_hint);
  }
  function endMode() { setMode(null); status(""); }
  $("tool-vertex").addEventListener("click", function () { setMode(ui.mode === "vertex" ? null : "vertex"); });
  $("tool-split").addEventListener("click", function () {
    if (ui.selected.length < 1) { status(text.pl_select_first, true); return; }
    setMode("split");
  });
  $("tool-redraw").addEventListener("click", function () {
    if (ui.selected.length !== 2) { status(text.pl_select_two, true); return; }
    setMode("redraw");
  });
  $("tool-add").addEventListener("click", function () { setMode("add"); });
  $("tool-merge").addEventListener("click", function () {
    if (ui.selected.length !== 2) { status(text.pl_select_two, true); return; }
    var grids = ui.selected.slice();
    ui.selected = [];
    edit({op: "merge", grids: grids});
  });
  $("tool-remove").addEventListener("click", function () {
    var code = ui.selected[ui.selected.length - 1];
    if (!code) { status(text.pl_select_first, true); return; }
    if (!window.confirm(fmt("pl_confirm_remove", {code: code}))) return;
    ui.selected = [];
    edit({op: "remove", grid: code});
  });
  $("draw-cancel").addEventListener("click", endMode);
  $("draw-finish").addEventListener("click", finishDrawing);
  map.on("click", function (e) {
    if (ui.mode !== "split" && ui.mode !== "redraw" && ui.mode !== "add") return;
    ui.points.push({wgs: toWgs(e.latlng), at: e.latlng});
    drawLayer.clearLayers();
    var latlngs = ui.points.map(function (p) { return p.at; });
    var shape = ui.mode === "add" ? L.polygon(latlngs, {color: "#d94801", weight: 2, dashArray: "4 4"})
                                  : L.polyline(latlngs, {color: "#d94801", weight: 3});
    drawLayer.addLayer(shape);
    latlngs.forEach(function (ll) { drawLayer.addLayer(L.circleMarker(ll, {radius: 4, color: "#d94801"})); });
  });
  function finishDrawing() {
    var mode = ui.mode, line = ui.points.map(function (p) { return p.wgs; });
    if (line.length < (mode === "add" ? 3 : 2)) return;
    var body = mode === "split" ? {op: "split", grid: ui.selected[ui.selected.length - 1], line: line}
      : mode === "redraw" ? {op: "redraw", grids: ui.selected.slice(), line: line}
      : {op: "add", polygon: line};
    setMode(null);
    if (mode !== "redraw") ui.selected = [];
    edit(body);
  }

  $("grid-save").addEventListener("click", function () {
    var code = ui.selected[ui.selected.length - 1];
    var body = {op: "set_props", grid: code, name: $("grid-name").value.trim(),
                name_en: $("grid-name-en").value.trim()};
    var wanted = $("grid-code").value.trim();
    if (wanted && wanted !== code) { body.grid_code = wanted; ui.selected = [wanted]; }
    edit(body);
  });
  $("team-save").addEventListener("click", function () {
    var code = ui.selected[ui.selected.length - 1], teams = {};
    teams[code] = $("grid-team").value || null;
    api("PUT", "/draft/teams", {teams: teams}).then(function () {
      return loadGenerations();
    }).then(function () { render(); status(text.pl_teams_saved); }).catch(failed);
  });

  /* -- the boundary file and the draft ------------------------------------------------ */
  $("upload-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var data = new FormData($("upload-form"));
    if (!$("upload-file").files.length) { status(text.pl_file_hint, true); return; }
    status(text.loading);
    api("POST", "/draft", data).then(function (doc) {
      ui.selected = [];
      return load().then(function () {
        ui.issues = doc.check;
        renderIssues();
        status(fmt("pl_uploaded", {n: ui.features.length}));
      });
    }).catch(function (err) { status(err.message, true); });
  });
  $("discard").addEventListener("click", function () {
    if (!ui.draft || !window.confirm(text.pl_confirm_discard)) return;
    api("DELETE", "/draft").then(function () {
      ui.selected = [];
      return load();
    }).then(function () { status(text.pl_discarded); }).catch(failed);
  });

  /* -- check --------------------------------------------------------------------------- */
  $("run-check").addEventListener("click", function () {
    if (!ui.draft) { ui.issues = null; renderIssues(); return; }
    status(text.loading);
    api("GET", "/draft").then(function (doc) {
      ui.features = doc.features;
      ui.issues = doc.check;
      render();
      status("");
    }).catch(failed);
  });

  /* -- preview and compare ---------------------------------------------------------- */
  function renderGenerations() {
    var a = $("gen-a"), b = $("gen-b"), back = $("rollback-to");
    var keepA = a.value, keepB = b.value;
    [a, b, back].forEach(clear);
    var body = clear($("generations").querySelector("tbody"));
    ui.generations.forEach(function (g) {
      var label = "#" + g.number + " " + (g.status === "draft" ? text.pl_status_draft
        : g.number === ui.active ? text.pl_generation_active : text.pl_status_published);
      [a, b].forEach(function (s) { var o = el("option", label); o.value = g.number; s.appendChild(o); });
      if (g.status === "published" && g.number !== ui.active) {
        var o = el("option", label); o.value = g.number; back.appendChild(o);
      }
      body.appendChild(row([g.number, label.replace(/^#\d+ /, ""), g.effective_date, g.description],
                           g.number === ui.active ? "selected" : ""));
    });
    // the active generation against the draft, until the planner picks others
    a.value = ui.pickedA && ui.entries[keepA] ? keepA : String(ui.active);
    b.value = ui.pickedB && ui.entries[keepB] ? keepB : String(ui.draft || ui.active);
    $("rollback").disabled = !back.options.length;
    $("publish").disabled = !ui.draft;
    var draft = ui.draft && ui.entries[ui.draft];
    if (draft && ui.filled !== ui.draft) {  // the draft's own description and date, once
      ui.filled = ui.draft;
      if (!$("publish-description").value) $("publish-description").value = draft.description || "";
      if (!$("publish-date").value) $("publish-date").value = draft.effective_date || "";
    }
  }

  $("gen-a").addEventListener("change", function () { ui.pickedA = true; });
  $("gen-b").addEventListener("change", function () { ui.pickedB = true; });

  function percent(v) {
    if (v === null || v === undefined) return text.pl_new_grid;
    return (v > 0 ? "+" : "") + v.toFixed(1) + " %";
  }
  function gridLabel(code) { return code ? code : text.pl_outside; }

  $("run-preview").addEventListener("click", function () {
    var a = $("gen-a").value, b = $("gen-b").value;
    var q = "?from=" + encodeURIComponent(a) + "&to=" + encodeURIComponent(b);
    status(text.loading);
    Promise.all([api("GET", "/preview" + q), api("GET", "/generations/" + a),
                 api("GET", "/difference" + q).catch(function () { return null; })])
      .then(function (answers) { showPreview(answers[0], answers[1], answers[2]); status(""); })
      .catch(failed);
  });

  function showPreview(doc, old, diff) {
    previewLayer.clearLayers();
    var effect = doc.impact;
    ["transitions", "moves", "areas", "workload"].forEach(function (id) {
      clear($(id).querySelector("tbody"));
    });
    $("preview-summary").textContent = effect ? fmt("pl_preview_of", {
      a: doc.from.number, b: doc.to.number, cases: effect.cases, open: effect.open}) : text.pl_cannot_route;
    $("preview-summary").className = effect ? "" : "error-message";
    // the old boundaries dashed, the ground that changes grid shaded
    L.geoJSON(displayFeatures(old.features), {
      style: {color: "#333", weight: 2, dashArray: "6 5", fill: false}, interactive: false
    }).addTo(previewLayer);
    if (diff) {
      L.geoJSON({type: "FeatureCollection", features: diff.features.map(function (f) {
        return {type: "Feature", properties: f.properties, geometry: displayGeometry(f.geometry)};
      })}, {
        style: {color: "#b22222", weight: 1, fillColor: "#e31a1c", fillOpacity: 0.45},
        onEachFeature: function (f, layer) {
          layer.bindTooltip(el("span", gridLabel(f.properties.from) + " → " + gridLabel(f.properties.to) +
                                   text.colon + Math.round(f.properties.area_m2) + " m²"));
        }
      }).addTo(previewLayer);
    }
    if (!legend._map) legend.addTo(map);
    if (!effect) return;
    var tbody = $("transitions").querySelector("tbody");
    effect.transitions.slice().sort(function (x, y) { return y.all - x.all; }).forEach(function (t) {
      tbody.appendChild(row([gridLabel(t.from), gridLabel(t.to), {text: t.all, cls: "num"},
                             {text: t.open, cls: "num"}], t.from !== t.to ? "marked" : ""));
    });
    $("moves-total").textContent = "(" + fmt("pl_moves_total", {n: effect.moves_total}) + ")";
    tbody = $("moves").querySelector("tbody");
    effect.moves.forEach(function (m) {
      var tr = row(["#" + m.case_no, gridLabel(m.from), gridLabel(m.to)], "pick");
      var at = frame.display(m.lon, m.lat);
      var marker = L.circleMarker(at, {radius: 6, color: "#fff", weight: 2, fillColor: "#d94801",
                                       fillOpacity: 0.95});
      marker.bindTooltip(el("span", "#" + m.case_no + text.colon + gridLabel(m.from) + " → " + gridLabel(m.to)));
      previewLayer.addLayer(marker);
      tr.addEventListener("click", function () { map.setView(at, Math.max(map.getZoom(), 17)); marker.openTooltip(); });
      tbody.appendChild(tr);
    });
    tbody = $("areas").querySelector("tbody");
    Object.keys(effect.areas).sort(function (x, y) {  // new grids, then the biggest changes
      function size(c) { var v = effect.areas[c].change_pct; return v === null ? Infinity : Math.abs(v); }
      return size(y) - size(x) || x.localeCompare(y);
    }).forEach(function (code) {
      var change = effect.areas[code].change_pct;
      tbody.appendChild(row([code, {text: percent(change), cls: "num"}],
                            change === null || Math.abs(change) > 0.05 ? "marked" : ""));
    });
    $("workload-mean").textContent = "(" + text.pl_marked + " ±" + Math.round(effect.workload_share * 100) + " %)";
    tbody = $("workload").querySelector("tbody");
    effect.workload.forEach(function (w) {
      var tr = row([w.code, {text: w.open, cls: "num"}, {text: w.all, cls: "num"},
                    {text: w.ratio === null ? "—" : w.ratio.toFixed(2), cls: "num"}],
                   w.marked ? "marked" : "");
      if (w.marked) tr.title = text.pl_marked;
      tbody.appendChild(tr);
    });
  }

  /* -- publish and roll back ---------------------------------------------------------- */
  $("publish-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var refusal = clear($("publish-refusal"));
    if (!ui.draft || !window.confirm(fmt("pl_confirm_publish", {n: ui.draft}))) return;
    var body = {draft: ui.draft, move_cases: $("publish-move").checked,
                description: $("publish-description").value.trim()};
    if ($("publish-date").value) body.effective_date = $("publish-date").value;
    status(text.loading);
    api("POST", "/publish", body).then(function (doc) {
      ui.selected = [];
      previewLayer.clearLayers();
      $("publish-description").value = "";
      $("publish-date").value = "";
      $("publish-move").checked = false;
      return load().then(function () {
        fitAll();
        status(fmt("pl_published", {n: doc.to.number}) +
               (body.move_cases ? text.list_sep + fmt("pl_moved_cases", {n: doc.moved.length}) : ""));
      });
    }).catch(function (err) {
      var first = err.message.split("\n")[0].replace(/[:：]\s*$/, "");
      status(text.pl_refused + " " + first, true);
      refusal.appendChild(el("li", first));
      var issues = (err.body || {}).issues || [];
      issues.filter(function (i) { return i.severity === "error"; }).forEach(function (i) {
        refusal.appendChild(el("li", localized(i.message)));
      });
      if (issues.length) { ui.issues = {ok: false, issues: issues,
        error_count: issues.filter(function (i) { return i.severity === "error"; }).length,
        warning_count: issues.filter(function (i) { return i.severity !== "error"; }).length};
        renderIssues(); }
    });
  });
  $("rollback").addEventListener("click", function () {
    var n = Number($("rollback-to").value);
    if (!n || !window.confirm(fmt("pl_confirm_rollback", {n: n}))) return;
    api("POST", "/rollback", {generation: n}).then(function () {
      return load();
    }).then(function () { fitAll(); status(fmt("pl_rolled_back", {n: n})); }).catch(failed);
  });

  /* -- tabs ------------------------------------------------------------------------------ */
  var TABS = ["grids", "check", "preview", "publish"];
  TABS.forEach(function (name) {
    $("tab-" + name).addEventListener("click", function () {
      TABS.forEach(function (other) {
        $("tab-" + other).setAttribute("aria-selected", String(other === name));
        $("panel-" + other).hidden = other !== name;
      });
      if (name !== "preview") { previewLayer.clearLayers(); if (legend._map) legend.remove(); }
    });
  });

  load();
})();
