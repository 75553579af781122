/* gridmapFrame: WGS 84 <-> the datum the map's tiles are drawn in, for markers and clicks.
   Configured by gridmap/maps/frame.py; the formulas are those of gridmap/geo/datums.py. */
(function (config) {
  "use strict";
  var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI, box = config.box;
  function inside(lon, lat, margin) {
    return lon >= box[0] - margin && lon <= box[2] + margin && lat >= box[1] - margin && lat <= box[3] + margin;
  }
  function shift(lon, lat) {  // GCJ-02 minus WGS 84 at a WGS 84 point
    var x = lon - 105.0, y = lat - 35.0;
    var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common
      + (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0
      + (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common
      + (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0
      + (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radLat = lat / 180.0 * PI, magic = Math.sin(radLat);
    magic = 1.0 - EE * magic * magic;
    var sqrtMagic = Math.sqrt(magic);
    return [(dlon * 180.0) / (A / sqrtMagic * Math.cos(radLat) * PI),
            (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtMagic) * PI)];
  }
  function toGcj(lon, lat) {
    if (!inside(lon, lat, 0)) return [lon, lat];
    var d = shift(lon, lat);
    return [lon + d[0], lat + d[1]];
  }
  function fromGcj(lon, lat) {  // fixed-point iteration, as gcj02_to_wgs84
    if (!inside(lon, lat, config.margin)) return [lon, lat];
    var d = shift(lon, lat), x = lon - d[0], y = lat - d[1];
    for (var i = 0; i < 10; i++) {
      d = shift(x, y);
      var ex = x + d[0] - lon, ey = y + d[1] - lat;
      if (Math.abs(ex) < config.tolerance && Math.abs(ey) < config.tolerance) break;
      x -= ex; y -= ey;
    }
    if (!inside(x, y, 10 * config.tolerance)) return [lon, lat];
    return [Math.min(Math.max(x, box[0]), box[2]), Math.min(Math.max(y, box[1]), box[3])];
  }
  var gcj = config.datum === "gcj02";
  window.gridmapFrame = {
    datum: config.datum,
    /* where a WGS 84 point is drawn on this map: an L.LatLng */
    display: function (lon, lat) {
      var p = gcj ? toGcj(lon, lat) : [lon, lat];
      return L.latLng(p[1], p[0]);
    },
    /* the WGS 84 point under a place on this map (e.g. a click's e.latlng): {lon, lat} */
    wgs84: function (latlng) {
      var p = gcj ? fromGcj(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat];
      return {lon: p[0], lat: p[1]};
    }
  };
})
