# Handlers for bench/r_versions.py: base R only, so they run on a bare base image.

hello <- function(raw_event) json('{"message":"Hello, bench!"}')

stream_one <- function(raw_event, stream) {
  stream$write("one chunk")
  NULL
}

stream_burst <- function(raw_event, stream) {
  for (i in 1:10) stream$write(sprintf("chunk %d\n", i))
  NULL
}

stream_paced <- function(raw_event, stream) {
  for (i in 1:10) {
    stream$write(sprintf("chunk %d\n", i))
    Sys.sleep(0.005)
  }
  NULL
}
