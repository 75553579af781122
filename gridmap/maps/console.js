/* The dispatcher's console (templates/dispatch/console.html): every layer, figure and
   list row from /api/dispatch/... for the filters in the URL and the map's view.
   Resident-written text only ever reaches the page through textContent. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("console-config").textContent);
  var text = JSON.parse(document.getElementById("texts").textContent);
  var map = window[config.map], gridsLayer = window[config.grids_layer], frame = window.gridmapFrame;
  var form = document.getElementById("filters");
  var FILTERS = ["grid", "state", "category", "overdue", "since", "until", "q"];
  var CLOCK_COLORS = {sign: "#f28e2b", handle: "#d62728", verify: "#7b3294"};
  var SCALE = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"];
  var REFRESH_POLLS = 30;  // a refresh every 30 polls, for cases that changed state elsewhere
  var gridInfo = {};
  config.grids.forEach(function (g) { gridInfo[g.code] = g; });
  var ui = {sort: "-reported_at", page: 1, metric: "open", step: "day", frames: [], frame: null,
            playing: null, latest: null, total: null, fresh: 0, figures: {}};
  var seq = {};  // the latest request of each kind: older answers are dropped

  function $(id) { return document.getElementById(id); }
  function el(tag, content, cls) {
    var node = document.createElement(tag);
    if (content !== undefined && content !== null) node.textContent = String(content);
    if (cls) node.className = cls;
    return node;
  }
  function label(key) { return text[key] || key; }

  /* -- filters <-> URL ------------------------------------------------------- */
  function filterParams() {
    var params = new URLSearchParams(), data = new FormData(form);
    FILTERS.forEach(function (name) {
      var values = data.getAll(name).map(function (v) { return String(v).trim(); })
        .filter(function (v) { return v; });
      if (values.length) params.set(name, values.join(","));
    });
    return params;
  }
  function setForm(params) {
    FILTERS.forEach(function (name) {
      var value = params.get(name) || "", chosen = value.split(",");
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.name !== name) return;
        if (field.type === "checkbox") field.checked = chosen.indexOf(field.value) >= 0;
        else field.value = value;
      });
    });
    categorySummary();
  }
  function categorySummary() {
    var n = form.querySelectorAll("input[name=category]:checked").length;
    var summary = $("category-filter").querySelector("summary");
    summary.textContent = label("category") + (n ? " (" + n + ")" : "");
  }
  function viewBox() {
    var b = map.getBounds(), sw = frame.wgs84(b.getSouthWest()), ne = frame.wgs84(b.getNorthEast());
    function clamp(v, lo, hi) { return Math.min(Math.max(v, lo), hi).toFixed(6); }
    return [clamp(sw.lon, -180, 180), clamp(sw.lat, -90, 90), clamp(ne.lon, -180, 180),
            clamp(ne.lat, -90, 90)].join(",");
  }
  function query(extra) {
    var params = filterParams();
    params.set("bbox", viewBox());
    params.set("zoom", String(map.getZoom()));
    Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
    return params;
  }
  function getJSON(kind, path, params) {
    var mine = seq[kind] = (seq[kind] || 0) + 1;
    params.set("lang", config.lang);  // answers in the page's language
    return fetch(config.api + path + "?" + params.toString(), {
      credentials: "same-origin", headers: {Accept: "application/json"}
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.message || r.status);
        return body;
      });
    }).then(function (body) {
      if (mine !== seq[kind]) throw {stale: true};
      return body;
    });
  }
  function status(message) {
    $("live-status").textContent = message;
    $("live-status").className = message ? "status-error" : "muted";
  }
  function failed(err) {
    if (err && err.stale) return;
    status(label("load_failed") + label("colon") + (err && err.message || err));
  }

  /* -- heat ------------------------------------------------------------------ */
  // Leaflet.heat scales weights by 2^(zoom - maxZoom): the server's cells are counts
  // for this zoom already, so its maximum is scaled alike
  var heatMaxZoom = map.getMaxZoom();
  var heat = L.heatLayer([], {radius: 25, blur: 18, minOpacity: 0.35, maxZoom: heatMaxZoom});
  heat.addTo(map);
  function drawHeat(body) {
    var scale = Math.pow(2, -Math.max(0, Math.min(heatMaxZoom - map.getZoom(), 12)));
    heat.setOptions({max: (body.max || 1) * scale});
    heat.setLatLngs(body.cells.map(function (c) {
      var p = frame.display(c[1], c[0]);
      return [p.lat, p.lng, c[2]];
    }));
  }
  function loadHeat() {
    var chosen = ui.frame === null ? null : ui.frames[ui.frame];
    var extra = chosen ? {since: chosen.since, until: chosen.until} : {};
    return getJSON("heat", "/heat", query(extra)).then(drawHeat).catch(failed);
  }

  /* -- popups (built from text nodes only) ------------------------------------ */
  function casePopup(id, layer) {
    var box = el("div", null, "popup");
    box.appendChild(el("p", label("loading")));
    getJSON("case-" + id, "/cases/" + encodeURIComponent(id), new URLSearchParams())
      .then(function (c) {
        box.textContent = "";
        var head = el("b", "#" + c.case_no + " " + c.category);
        box.appendChild(head);
        var dl = el("dl");
        [[label("state"), c.state_name], [label("grid"), c.grid_name],
         [label("age"), c.ago + " (" + c.reported_at + ")"],
         [label("deadline"), c.deadline_text || "—"]].forEach(function (pair) {
          dl.appendChild(el("dt", pair[0]));
          dl.appendChild(el("dd", pair[1]));
        });
        box.appendChild(dl);
        box.appendChild(el("p", c.description));
        var link = el("a", label("open_case"));
        link.href = c.url;
        box.appendChild(link);
        if (layer.isPopupOpen()) layer.getPopup().update();  // its new size, panned into view once
      }).catch(function (err) { if (!(err && err.stale)) box.textContent = String(err.message || err); });
    return box;
  }

  function bindCasePopup(marker, id) {  // made once a time it opens (update() asks again)
    marker.bindPopup(function (layer) { return layer.box || (layer.box = casePopup(id, layer)); });
    marker.on("popupclose", function () { marker.box = null; });
  }

  /* -- clusters: updated in place by key, so an open popup stays open ---------- */
  var clusterLayer = L.layerGroup().addTo(map), clusterMarkers = {};
  function clusterKey(c) { return c.count === 1 && c.id ? "case:" + c.id : "box:" + c.bbox.join(","); }
  function clusterIcon(c) {
    var size = c.count === 1 ? 0 : Math.round(Math.min(56, 24 + 7 * Math.log10(c.count) * 3));
    var node = el("div", c.count === 1 ? "#" + c.case_no : c.count, c.count === 1 ? "cluster one" : "cluster");
    if (c.count === 1) return L.divIcon({html: node, className: "", iconSize: [46, 18], iconAnchor: [23, 9]});
    node.style.width = node.style.height = size + "px";
    return L.divIcon({html: node, className: "", iconSize: [size, size], iconAnchor: [size / 2, size / 2]});
  }
  function drawClusters(body) {
    var seen = {};
    body.clusters.forEach(function (c) {
      var key = clusterKey(c), marker = clusterMarkers[key];
      seen[key] = true;
      var at = frame.display(c.lon, c.lat);
      if (marker) {  // moved or changed only: an update pans the map to an open popup
        if (!marker.getLatLng().equals(at, 0)) marker.setLatLng(at);
        if (marker.cluster.count !== c.count) marker.setIcon(clusterIcon(c));
        marker.cluster = c;
        return;
      }
      marker = L.marker(at, {icon: clusterIcon(c), keyboard: true,
                             title: c.count === 1 ? "#" + c.case_no : label("cluster_of").replace("{n}", c.count)});
      marker.cluster = c;
      if (c.count === 1 && c.id) {
        bindCasePopup(marker, c.id);
      } else {
        marker.on("click", function () {
          var b = marker.cluster.bbox, sw = frame.display(b[0], b[1]), ne = frame.display(b[2], b[3]);
          map.fitBounds(L.latLngBounds(sw, ne).pad(0.05), {maxZoom: map.getMaxZoom()});
        });
      }
      clusterMarkers[key] = marker.addTo(clusterLayer);
    });
    Object.keys(clusterMarkers).forEach(function (key) {
      var marker = clusterMarkers[key];
      if (!seen[key] && !(marker.isPopupOpen && marker.isPopupOpen())) {
        clusterLayer.removeLayer(marker);
        delete clusterMarkers[key];
      }
    });
  }
  function loadClusters() {
    return getJSON("clusters", "/clusters", query()).then(drawClusters).catch(failed);
  }

  /* -- overdue cases, coloured by the clock that ran out ----------------------- */
  var overdueLayer = L.layerGroup().addTo(map), overdueMarkers = {};
  function drawOverdue(body) {
    var seen = {};
    body.cases.forEach(function (row) {  // [id, case_no, lon, lat, clock index]
      var id = row[0], marker = overdueMarkers[id], color = CLOCK_COLORS[body.clocks[row[4]]];
      seen[id] = true;
      if (marker) {
        marker.setStyle({color: color, fillColor: color});
        return;
      }
      marker = L.circleMarker(frame.display(row[2], row[3]), {radius: 7, weight: 2, color: color,
                                                               fillColor: color, fillOpacity: 0.7});
      bindCasePopup(marker, id);
      overdueMarkers[id] = marker.addTo(overdueLayer);
    });
    Object.keys(overdueMarkers).forEach(function (id) {
      if (!seen[id] && !overdueMarkers[id].isPopupOpen()) {
        overdueLayer.removeLayer(overdueMarkers[id]);
        delete overdueMarkers[id];
      }
    });
  }
  function loadOverdue() {
    return getJSON("overdue", "/overdue", query()).then(drawOverdue).catch(failed);
  }

  /* -- grid choropleth, its legend and tooltips ---------------------------------- */
  function metricOf(f) {
    if (!f) return null;
    if (ui.metric === "on_time") return f.closed ? f.closed_on_time / f.closed : null;
    return f[{open: "open", overdue: "open_overdue", received: "received"}[ui.metric]];
  }
  function metricText(v) {
    if (v === null || v === undefined) return "—";
    return ui.metric === "on_time" ? Math.round(v * 100) + "%" : String(v);
  }
  function classes() {
    if (ui.metric === "on_time") return [0, 0.2, 0.4, 0.6, 0.8];
    var top = 0;
    Object.keys(ui.figures).forEach(function (code) { top = Math.max(top, metricOf(ui.figures[code]) || 0); });
    var step = Math.max(1, Math.ceil(top / SCALE.length));
    return SCALE.map(function (_, i) { return i * step; });
  }
  function colorOf(v, breaks) {
    if (v === null || v === undefined) return "#cccccc";
    var i = breaks.length - 1;
    while (i > 0 && v < breaks[i]) i--;
    return ui.metric === "on_time" ? SCALE[SCALE.length - 1 - i] : SCALE[i];  // a high rate is good
  }
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () { this.box = el("div", null, "legend"); return this.box; };
  legend.addTo(map);
  function drawLegend(breaks) {
    var box = legend.box;
    box.textContent = "";
    box.appendChild(el("b", label("metric_" + ui.metric)));
    breaks.forEach(function (b, i) {
      var line = el("div"), swatch = el("i");
      swatch.style.background = colorOf(b, breaks);
      line.appendChild(swatch);
      var upper = i + 1 < breaks.length ? breaks[i + 1] : null;
      line.appendChild(document.createTextNode(
        ui.metric === "on_time" ? Math.round(b * 100) + "%" + (upper !== null ? "–" + Math.round(upper * 100) + "%" : "+")
          : b + (upper === null ? "+" : upper - 1 > b ? "–" + (upper - 1) : "")));
      box.appendChild(line);
    });
    box.appendChild(el("b", label("layer_overdue")));
    ["sign", "handle", "verify"].forEach(function (clock) {
      var line = el("div"), dot = el("i", null, "dot");
      dot.style.background = CLOCK_COLORS[clock];
      line.appendChild(dot);
      line.appendChild(document.createTextNode(label("clock_" + clock)));
      box.appendChild(line);
    });
  }
  function gridTip(code) {
    var g = gridInfo[code], f = ui.figures[code] || {}, box = el("div", null, "grid-tip");
    box.appendChild(el("b", g.name + " "));
    box.appendChild(el("code", g.code));
    g.team.forEach(function (line) { box.appendChild(el("div", line)); });
    [["metric_open", f.open], ["metric_overdue", f.open_overdue], ["received", f.received],
     ["closed", f.closed], ["metric_on_time", f.closed ? Math.round(100 * f.closed_on_time / f.closed) + "%" : "—"]]
      .forEach(function (pair) {
        box.appendChild(el("div", label(pair[0]) + label("colon") + (pair[1] === undefined ? "—" : pair[1])));
      });
    return box;
  }
  function pickGrid(code) {
    var g = gridInfo[code];
    form.elements.grid.value = code;
    map.fitBounds(g.bounds);
    applyFilters();
  }
  gridsLayer.eachLayer(function (layer) {
    var code = layer.feature.properties.grid_code;
    layer.bindTooltip(function () { return gridTip(code); }, {sticky: true});
    layer.on("click", function () { pickGrid(code); });
  });
  function drawChoropleth() {
    var breaks = classes();
    gridsLayer.eachLayer(function (layer) {
      var code = layer.feature.properties.grid_code;
      layer.setStyle({fillColor: colorOf(metricOf(ui.figures[code]), breaks), fillOpacity: 0.35});
    });
    drawLegend(breaks);
  }

  /* -- side panel ------------------------------------------------------------- */
  function caseLink(c, extra) {
    var li = el("li"), a = el("a", "#" + c.case_no + " " + c.category);
    a.href = c.url;
    li.appendChild(a);
    li.appendChild(el("span", " " + c.grid_name + " · " + (extra || c.ago), extra ? "late" : "muted"));
    return li;
  }
  function drawFigures(body) {
    ui.figures = {};
    var tbody = $("grid-figures").querySelector("tbody");
    tbody.textContent = "";
    body.grids.forEach(function (f) {
      ui.figures[f.code] = f;
      var tr = el("tr", null, "pick");
      tr.dataset.gridCode = f.code;
      tr.appendChild(el("td", f.name + " " + f.code.slice(-3)));
      tr.appendChild(el("td", f.open));
      tr.appendChild(el("td", f.open_overdue, f.open_overdue ? "late" : ""));
      tr.appendChild(el("td", f.closed ? Math.round(100 * f.closed_on_time / f.closed) + "%" : "—"));
      tr.appendChild(el("td", f.received));
      tr.addEventListener("click", function () { pickGrid(f.code); });
      tbody.appendChild(tr);
    });
    var cats = $("category-figures").querySelector("tbody");
    cats.textContent = "";
    body.categories.forEach(function (c) {
      var tr = el("tr");
      tr.appendChild(el("td", c.name));
      tr.appendChild(el("td", c.count));
      cats.appendChild(tr);
    });
    var oldest = $("oldest-overdue"), newest = $("newest");
    oldest.textContent = newest.textContent = "";
    body.oldest_overdue.forEach(function (c) {
      oldest.appendChild(caseLink(c, c.deadline_text || label("clock_" + c.clock)));
    });
    body.newest.forEach(function (c) { newest.appendChild(caseLink(c)); });
    if (!body.oldest_overdue.length) oldest.appendChild(el("li", label("no_cases"), "muted"));
    if (!body.newest.length) newest.appendChild(el("li", label("no_cases"), "muted"));
    drawChoropleth();
  }
  function loadFigures() {
    return getJSON("figures", "/figures", filterParams()).then(drawFigures).catch(failed);
  }

  /* -- the list --------------------------------------------------------------- */
  function listParams() { return query({sort: ui.sort, page: ui.page}); }
  function drawList(body) {
    var tbody = $("cases").querySelector("tbody"), pages = Math.max(1, Math.ceil(body.total / body.per_page));
    tbody.textContent = "";
    body.cases.forEach(function (c) {
      var tr = el("tr"), no = el("td"), a = el("a", "#" + c.case_no);
      tr.dataset.caseId = c.case_id;
      a.href = c.url;
      no.appendChild(a);
      tr.appendChild(no);
      [c.reported_at, c.grid_name, c.category, c.state_name, c.description].forEach(function (v) {
        tr.appendChild(el("td", v));
      });
      tr.appendChild(el("td", c.deadline_text || "—", c.deadline && c.deadline.level === "late" ? "late" : ""));
      tr.appendChild(el("td", c.contact || ""));
      tbody.appendChild(tr);
    });
    if (!body.cases.length) {
      var empty = el("td", label("no_cases"), "muted");
      empty.colSpan = 8;
      tbody.appendChild(el("tr")).appendChild(empty);
    }
    $("list-total").textContent = label("cases_in_view").replace("{n}", body.total);
    $("list-total").dataset.total = body.total;
    $("page-label").textContent = body.page + " / " + pages;
    $("prev-page").disabled = body.page <= 1;
    $("next-page").disabled = body.page >= pages;
    ui.pages = pages;
    var csv = listParams();
    csv.delete("page");
    csv.delete("zoom");
    csv.set("lang", config.lang);
    $("csv").href = config.api + "/cases.csv?" + csv.toString();
  }
  function loadList() {
    return getJSON("list", "/cases", listParams()).then(drawList).catch(failed);
  }
  $("prev-page").addEventListener("click", function () { ui.page = Math.max(1, ui.page - 1); loadList(); });
  $("next-page").addEventListener("click", function () { ui.page += 1; loadList(); });
  Array.prototype.forEach.call(document.querySelectorAll("th button[data-sort]"), function (b) {
    b.addEventListener("click", function () {
      var key = b.dataset.sort;
      ui.sort = ui.sort === "-" + key ? key : "-" + key;
      ui.page = 1;
      loadList();
    });
  });

  /* -- time slider: heat per day or week, from aggregates ----------------------- */
  var slider = $("frame"), frameLabel = $("frame-label"), playButton = $("play");
  function showFrame() {
    var f = ui.frame === null ? null : ui.frames[ui.frame];
    frameLabel.textContent = f ? (f.since === f.until ? f.since : f.since + " – " + f.until) + " · " + f.count
      : label("all_period");
  }
  function loadFrames() {
    var params = query({step: ui.step});
    return getJSON("frames", "/frames", params).then(function (body) {
      ui.frames = body.frames;
      slider.max = String(body.frames.length);  // the last position: the whole period
      if (ui.frame !== null && ui.frame >= body.frames.length) ui.frame = null;
      slider.value = String(ui.frame === null ? body.frames.length : ui.frame);
      showFrame();
    }).catch(failed);
  }
  slider.addEventListener("input", function () {
    var i = Number(slider.value);
    ui.frame = i >= ui.frames.length ? null : i;
    showFrame();
    loadHeat();
  });
  function stop() {
    clearInterval(ui.playing);
    ui.playing = null;
    playButton.textContent = label("play");
  }
  playButton.addEventListener("click", function () {
    if (ui.playing) { stop(); return; }
    if (!ui.frames.length) return;
    playButton.textContent = label("pause");
    ui.frame = ui.frame === null ? 0 : ui.frame;
    function tick() {
      slider.value = String(ui.frame);
      showFrame();
      loadHeat();
      if (ui.frame >= ui.frames.length - 1) { stop(); return; }
      ui.frame += 1;
    }
    tick();
    ui.playing = setInterval(tick, 900);
  });
  $("step").addEventListener("change", function () {
    ui.step = this.value;
    ui.frame = null;
    stop();
    loadFrames().then(loadHeat);
  });
  $("metric").addEventListener("change", function () { ui.metric = this.value; drawChoropleth(); });

  /* -- refreshing --------------------------------------------------------------- */
  function refreshView() {
    return Promise.all([loadHeat(), loadClusters(), loadOverdue(), loadList()]);
  }
  function refreshAll() {
    return Promise.all([refreshView(), loadFigures(), loadFrames()]);
  }
  function applyFilters() {
    status("");
    var qs = filterParams().toString(), url = location.pathname + (qs ? "?" + qs : "");
    if (url !== location.pathname + location.search) history.pushState({filters: qs}, "", url);
    ui.page = 1;
    ui.frame = null;
    stop();
    refreshAll();
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); applyFilters(); });
  form.addEventListener("change", function (e) {
    if (e.target.name === "category") categorySummary();
    if (e.target.name !== "q") applyFilters();
  });
  $("clear-filters").addEventListener("click", function (e) {
    e.preventDefault();
    setForm(new URLSearchParams());
    applyFilters();
  });
  window.addEventListener("popstate", function () {
    status("");
    setForm(new URLSearchParams(location.search));
    ui.page = 1;
    ui.frame = null;
    refreshAll();
  });
  var moved = null;
  map.on("moveend", function () {
    clearTimeout(moved);
    moved = setTimeout(function () { ui.page = 1; refreshView(); loadFrames(); }, 120);
  });

  /* -- live: a cheap poll; new reports refresh the layers in place --------------- */
  var fresh = $("new-reports");
  fresh.addEventListener("click", function () { ui.fresh = 0; fresh.hidden = true; });
  function poll() {
    getJSON("live", "/live", new URLSearchParams()).then(function (body) {
      if (ui.offline) status("");  // the poll's own failure is over
      ui.offline = false;
      var changed = ui.latest !== null && (body.latest !== ui.latest || body.total !== ui.total);
      if (ui.latest !== null && body.latest > ui.latest) {
        ui.fresh += body.latest - ui.latest;
        fresh.textContent = label("new_reports").replace("{n}", ui.fresh);
        fresh.hidden = false;
      }
      ui.latest = body.latest;
      ui.total = body.total;
      ui.polls = (ui.polls || 0) + 1;
      if (changed || ui.polls % REFRESH_POLLS === 0) refreshAll();  // now and then: states move too
    }).catch(function (err) { ui.offline = true; failed(err); })
      .then(function () { setTimeout(poll, config.poll_ms); });
  }

  var overlays = {};
  overlays[label("layer_heat")] = heat;
  overlays[label("layer_cases")] = clusterLayer;
  overlays[label("layer_overdue")] = overdueLayer;
  overlays[label("grids")] = gridsLayer;
  L.control.layers(null, overlays, {collapsed: map.getSize().x < 600, position: "topright"}).addTo(map);

  categorySummary();
  refreshAll().then(poll);
  window.gridmapConsole = {map: map, heat: heat, clusters: clusterMarkers, overdue: overdueMarkers,
                           grids: gridsLayer, ui: ui};
})();
