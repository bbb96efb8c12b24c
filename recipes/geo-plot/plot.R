# {"points": [{"group", "lon", "lat", "value", "time"}, ...], "from_epsg", "to_epsg", "tz", "title"}
# -> the points reprojected (metres), their convex hull's area, the groups aggregated, and a
# titled PNG plot. Each answer comes from a library reading a data file at run time, so an image
# missing one answers wrongly or fails: PROJ's proj.db (the CRS name, the coordinates), GDAL's
# data (the DXF writer's header template), udunits2's XML (units' database), fontconfig's
# configuration and a font (ink in the title band), zoneinfo (local times).
# An EPSG code PROJ does not know fails the invoke with errorType InvalidCrs.

library(sf)
library(data.table)
library(ggplot2)

handle <- function(event) {
  # The runtime reads JSON as jsonlite::fromJSON() does: an array of objects is a data frame.
  pts <- as.data.table(event$points)
  from <- crs_of(event$from_epsg)
  to <- crs_of(event$to_epsg)
  geo <- st_as_sf(pts, coords = c("lon", "lat"), crs = from)
  projected <- st_transform(geo, to)
  xy <- st_coordinates(projected)
  pts[, `:=`(x = round(xy[, "X"]), y = round(xy[, "Y"]))]
  pts[, time := as.POSIXct(time, format = "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")]

  hull <- st_convex_hull(st_union(projected))
  area <- units::set_units(st_area(hull), "km^2")

  groups <- pts[, .(
    n = .N,
    mean_value = round(mean(value), 2),
    x = round(mean(x)),
    y = round(mean(y)),
    first_local = format(min(time), "%Y-%m-%d %H:%M %Z", tz = event$tz)
  ), keyby = group]

  list(
    crs = st_crs(to)$Name,
    points = as.data.frame(pts[, .(group, x, y)]),
    hull_area_km2 = round(as.numeric(area), 3),
    area_unit = units::deparse_unit(area),
    udunits_database = units_database(),
    groups = as.data.frame(groups),
    openmp = openmp(),
    dxf = dxf_written(projected),
    plot = plot_check(pts, event$title)
  )
}

crs_of <- function(code) {
  crs <- tryCatch(st_crs(as.integer(code)), error = function(e) NULL)
  if (is.null(crs) || is.na(crs)) {
    stop(condition("InvalidCrs", paste0("PROJ does not know EPSG:", code)))
  }
  crs
}

# Which udunits2 database units loaded (it prefers the system's XML to its bundled copy).
units_database <- function() {
  units:::default_units_xml()
}

# Whether data.table was compiled with OpenMP (its own report of the build).
openmp <- function() {
  report <- capture.output(getDTthreads(verbose = TRUE))
  !any(grepl("not been compiled with OpenMP", report, fixed = TRUE))
}

# GDAL's DXF driver copies header.dxf and trailer.dxf from GDAL's data directory into every file
# it writes, and fails without them.
dxf_written <- function(projected) {
  path <- tempfile(fileext = ".dxf")
  on.exit(unlink(path))
  st_write(st_geometry(projected), path, driver = "DXF", quiet = TRUE)
  text <- readLines(path, warn = FALSE)
  list(header = "$ACADVER" %in% trimws(text), entities = sum(trimws(text) == "POINT"))
}

plot_of <- function(pts, title) {
  ggplot(pts, aes(x / 1000, y / 1000, colour = group)) +
    geom_point(size = 3) +
    labs(title = title, x = "easting (km)", y = "northing (km)") +
    theme_minimal(base_size = 14)
}

# Near-black pixels (text; the points' colours are lighter) in the top band of a render
# through ragg, where the title goes: none when no font could be found.
title_ink <- function(plot) {
  capture <- ragg::agg_capture(width = 800, height = 400, units = "px", background = "white")
  print(plot)
  raster <- capture(native = FALSE)
  dev.off()
  rgb <- col2rgb(raster[1:40, ])
  sum(apply(rgb, 2, max) < 100)
}

plot_check <- function(pts, title) {
  png <- tempfile(fileext = ".png")
  on.exit(unlink(png))
  ragg::agg_png(png, width = 800, height = 400, units = "px", background = "white")
  print(plot_of(pts, title))
  dev.off()
  con <- file(png, "rb")
  on.exit(close(con), add = TRUE)
  signature <- readBin(con, "raw", 8)
  invisible(readBin(con, "raw", 8)) # IHDR's length and type
  size <- readBin(con, "integer", 2, size = 4, endian = "big")
  list(
    png = identical(signature, as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))),
    width = size[1],
    height = size[2],
    # The title's glyphs, beside the same plot without one (axis labels may reach the band).
    title_adds_ink = title_ink(plot_of(pts, title)) - title_ink(plot_of(pts, NULL)) > 100
  )
}

condition <- function(class, message) {
  structure(class = c(class, "error", "condition"), list(message = message, call = NULL))
}
