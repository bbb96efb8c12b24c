# Per-request CPU time in one R process, no Runtime API round trip: the work the runtime does
# for one invoke (event -> request, handler, response document) with plumber's router and with
# the hand-written handler, on the same parsed events. CPU time (user + system) is used, not
# elapsed, so that other work on the machine counts less. Run by bench/plumber.py in the image:
#   Rscript inprocess.R N EVENT_FILE...
args <- commandArgs(TRUE)
n <- as.integer(args[[1L]])
rt <- new.env(parent = baseenv())
for (f in sort(list.files("/var/runtime/R", full.names = TRUE))) sys.source(f, rt)
rt$attach_exports(rt, c("http_response", "json"))
source("/bench/handwritten.R")
pr <- rt$resolve_handler("plumber:plumber.R", "/var/task")$fn
cpu <- function() sum(proc.time()[c("user.self", "sys.self")])
for (file in args[-1L]) {
  event <- jsonlite::fromJSON(file, simplifyVector = FALSE)$event
  for (label in c("plumber", "handwritten")) {
    fn <- if (label == "plumber") pr else handle
    one <- function() {
      req <- rt$as_http_request(event)
      rt$serialise_http_response(fn(req), req$kind)
    }
    for (i in seq_len(50L)) one()  # warm: lazy-loaded functions, first-use caches
    began <- cpu()
    for (i in seq_len(n)) one()
    cat(sprintf("%s\t%s\t%.3f\n", basename(file), label, (cpu() - began) / n * 1000))
  }
}
